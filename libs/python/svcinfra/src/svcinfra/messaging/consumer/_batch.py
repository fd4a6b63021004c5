"""Batched inbox transactions: one transaction per batch of deliveries, a savepoint per message.

The per-message path pays a pool checkout, `BEGIN`, the inbox `INSERT` and `COMMIT` (a WAL
flush) for every message. `Batcher` gathers the deliveries of one queue that arrive together
(at most `size`, waiting at most `linger` seconds after the first) and settles them in one
transaction (MQ-3):

1. one `INSERT ... SELECT unnest(...) ON CONFLICT DO NOTHING RETURNING` writes every inbox row
   of the batch and tells which messages are duplicates (acked without effect);
2. each new message's handler runs in turn, under its own handler timeout, on a `Transaction`
   that takes a `SAVEPOINT` before the handler's first statement and releases it after the
   handler returned (a release that fails: the handler swallowed a database error, which
   aborted the transaction; `AbortedByHandler`, a failure). A handler that fails is rolled
   back to its savepoint and its inbox row is deleted: it alone goes the normal way (retry
   tier or DLQ, decided by the consumer at once); the others go on;
3. `COMMIT`; only then are the batch's messages handed back to be acked.

A failure of the batch's transaction itself (the pool, `BEGIN`, the inbox insert, a rollback
to a savepoint, `COMMIT`) fails the whole batch with `BatchFailed`: no message of it is acked,
each is returned to its queue, and the broker redelivers it with `redelivered` set. A
redelivered message is never batched: it runs in its own transaction (the per-message path),
so a message that breaks its batch's commit (a deferred constraint) fails alone the second
time, and the inbox absorbs what an ambiguous commit did commit.

Savepoints that wrote get a subtransaction id each; PostgreSQL keeps 64 per transaction in
shared memory before every snapshot elsewhere gets slower (subtransaction overflow), hence
the size limit of 64.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from svcinfra.messaging.storage import queries
from svcinfra.postgres import DatabaseError, Transaction

from . import _telemetry as tm
from ._delivery import in_context

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextvars import Context

    from svcinfra.messaging.inbox import Inbox
    from svcinfra.postgres import Database
    from svcinfra.postgres._query import Query

    from ._delivery import Delivery
    from ._process import Outcome, Route

_log = structlog.get_logger("svcinfra.messaging")

MAX_BATCH_SIZE = 64
"""PostgreSQL's per-transaction cache of subtransaction ids (`PGPROC_MAX_CACHED_SUBXIDS`)."""


class BatchFailed(Exception):  # noqa: N818  (reads as the condition it is)
    """The transaction of a message's batch failed: the message is not acked, but requeued."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        super().__init__(f"the batch's transaction failed: {type(error).__name__}")


class AbortedByHandler(Exception):  # noqa: N818  (reads as the condition it is)
    """A batched handler returned, but after a database error it caught: its work is undone.

    Its statement failed and PostgreSQL aborted the transaction; committing the batch would
    have rolled back every message of it (or kept the inbox row without the effects), so the
    message is rolled back to its savepoint and retried like any transient failure.
    """

    temporary = True  # a transient failure whose text is safe to keep (no payload values)

    def __init__(self, error: BaseException) -> None:
        super().__init__(
            "the handler returned after a database error it caught "
            f"({type(error).__name__}); the message's transaction was aborted"
        )


class _MessageTx(Transaction):
    """The batch's transaction as one message's handler sees it.

    A savepoint goes before the handler's first statement; the transaction is closed for it
    once the handler returned (a late use raises `ProgrammingError`).
    """

    __slots__ = ("_savepoint", "saved")

    def __init__(self, db: Database, con: Any, savepoint: Query) -> None:  # noqa: ANN401
        super().__init__(db, con)
        self._savepoint = savepoint
        self.saved = False

    async def _run(self, query: Query, op: str, args: tuple[object, ...]) -> Any:  # noqa: ANN401
        if not self.saved:
            self.saved = True  # first: a savepoint that failed is not rolled back to
            await super()._run(self._savepoint, "execute", ())
        return await super()._run(query, op, args)

    def close(self) -> None:
        self._open = False

    def hand_over(self, tx: Transaction) -> None:
        """The handler succeeded: its after-commit callbacks wait for the batch's commit."""
        for callback in self._committed or ():
            tx.after_commit(callback)
        self._committed = None


@dataclass(slots=True)
class _Item:
    route: Route
    delivery: Delivery
    future: asyncio.Future[Outcome]
    context: Context | None


class Batcher:
    """The batches of one consumer: `await submit(...)` settles a transactional message."""

    def __init__(
        self,
        db: Database,
        inbox: Inbox,
        *,
        name: str,
        size: int,
        linger: float,
        handler_timeout: float,
        prefetch: Mapping[str, int],
    ) -> None:
        loaded = queries()
        self._savepoint = loaded.query("inbox__savepoint")
        self._rollback = loaded.query("inbox__rollback_savepoint")
        self._release = loaded.query("inbox__release_savepoint")
        self._db = db
        self._inbox = inbox
        self._name = name
        self._size = size
        self._prefetch = prefetch
        self._linger = linger
        self._handler_timeout = handler_timeout
        self._pending: dict[str, list[_Item]] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._busy: dict[str, int] = {}  # batches of the queue running now
        self._held: dict[str, int] = {}  # messages in them
        self._due: set[str] = set()  # queues whose open batch is past its linger
        self._running: set[asyncio.Task[None]] = set()

    def submit(
        self, route: Route, delivery: Delivery, context: Context | None
    ) -> asyncio.Future[Outcome]:
        """Add a message to its queue's open batch; the future resolves after the commit.

        The future's exception is what the handler raised (the message alone failed, its
        effects rolled back) or `BatchFailed` (the batch's transaction failed).
        `context`: where the handler runs (the message's span current), None for here.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Outcome] = loop.create_future()
        queue = delivery.queue
        pending = self._pending.setdefault(queue, [])
        pending.append(_Item(route, delivery, future, context))
        if len(pending) >= self._size or (
            # Every delivery the prefetch allows is here: waiting would bring no more.
            len(pending) + self._held.get(queue, 0) >= self._prefetch.get(queue, self._size)
        ):
            self._start(queue)
        elif len(pending) == 1:
            self._timers[queue] = loop.call_later(self._linger, self._lingered, queue)
        return future

    def _lingered(self, queue: str) -> None:
        """The open batch's linger is over: it starts now, or when the running one ends.

        Waiting for the running batch is what makes batches grow under load (a group commit):
        while one commits, the deliveries its acks make room for gather in the next.
        """
        self._timers.pop(queue, None)
        if self._busy.get(queue, 0):
            self._due.add(queue)
        else:
            self._start(queue)

    def _start(self, queue: str) -> None:
        timer = self._timers.pop(queue, None)
        if timer is not None:
            timer.cancel()
        self._due.discard(queue)
        items = self._pending.pop(queue, None)
        if not items:
            return
        self._busy[queue] = self._busy.get(queue, 0) + 1
        self._held[queue] = self._held.get(queue, 0) + len(items)
        task = asyncio.get_running_loop().create_task(self._settle(queue, items))
        self._running.add(task)
        task.add_done_callback(lambda done: self._finished(queue, done, len(items)))

    def _finished(self, queue: str, task: asyncio.Task[None], size: int) -> None:
        self._running.discard(task)
        self._busy[queue] -= 1
        self._held[queue] -= size
        if queue in self._due:
            self._start(queue)

    async def _settle(self, queue: str, items: list[_Item]) -> None:
        tm.BATCH_SIZE.labels(queue).observe(len(items))
        inbox, consumer = self._inbox, self._name
        done: list[tuple[_Item, Outcome]] = []
        try:
            async with self._db.transaction() as tx:
                new = await inbox.add_batch(
                    tx,
                    consumer=consumer,
                    message_ids=[item.delivery.message_id for item in items],
                    message_names=[item.delivery.name for item in items],
                )
                for item in items:
                    message_id = item.delivery.message_id
                    if message_id not in new:
                        done.append((item, "duplicate"))
                        continue
                    new.discard(message_id)  # a second copy in the batch is a duplicate
                    error = await self._handle(tx, item)
                    if error is None:
                        done.append((item, "processed"))
                    elif not item.future.done():
                        # Settled at once: its effects and inbox row are gone whatever follows.
                        item.future.set_exception(error)
        except Exception as exc:  # noqa: BLE001  (every message of the batch is told)
            tm.BATCHES_FAILED.labels(queue).inc()
            _log.warning(
                "amqp inbox batch failed; its messages are requeued",
                consumer=consumer,
                queue=queue,
                messages=len(items),
                error=repr(exc),
            )
            failed = BatchFailed(exc)
            for item in items:
                if not item.future.done():
                    item.future.set_exception(failed)
            return
        for item, outcome in done:
            if not item.future.done():  # done: its consumer task was cancelled (and requeued)
                item.future.set_result(outcome)

    async def _handle(self, tx: Transaction, item: _Item) -> Exception | None:
        """Run one handler behind its savepoint; on failure undo it and return the error.

        Raises:
            DatabaseError: the rollback to the savepoint or the inbox row's removal failed
                (the batch's transaction is lost).
        """
        message_tx = _MessageTx(self._db, tx._con, self._savepoint)  # noqa: SLF001  (its connection)
        try:
            async with asyncio.timeout(self._handler_timeout):
                await in_context(item.route.handler(message_tx, item.delivery), item.context)
                if message_tx.saved:
                    message_tx.close()
                    try:
                        await tx.exec(self._release)
                    except DatabaseError as exc:
                        raise AbortedByHandler(exc) from exc
        except Exception as exc:  # noqa: BLE001  (returned: the consumer settles it)
            message_tx.close()
            if message_tx.saved:
                await tx.exec(self._rollback)
            await self._inbox.remove(tx, consumer=self._name, message_id=item.delivery.message_id)
            return exc  # its after-commit callbacks go with its savepoint
        message_tx.close()
        message_tx.hand_over(tx)
        return None

    async def close(self) -> None:
        """Flush what is pending and wait for the running batches (on stop)."""
        for queue in list(self._pending):
            self._start(queue)
        if self._running:
            with contextlib.suppress(Exception):
                await asyncio.gather(*self._running, return_exceptions=True)
