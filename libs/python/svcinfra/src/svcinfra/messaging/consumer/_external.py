"""The external mode's inbox check and recording transaction, grouped (MQ-3, PG-12).

A message of `Consumer.on_external` costs an inbox check before its call and a recording
transaction after it: `BEGIN`, the inbox row, the handler's `record` statements, `COMMIT`; on
the server, a commit each. With
batching on (`batch_size` > 1), the messages whose steps fall together share them
(`Coalescer`: no wait when idle, groups that grow with the load):

* the inbox checks of the messages that arrive together are one statement
  (`inbox__seen_many`);
* the recordings of the calls that end together are one transaction, a group commit: one inbox
  statement for all of them (`inbox__add_results`, which also tells the duplicates), each new
  message's `record` in turn, or one `record_many` call for all the new messages of a name, one
  `COMMIT`. A message is acked only after its group's `COMMIT`.

One check and one recording run at a time (`CHECKS_AT_ONCE`, `RECORDS_AT_ONCE`): what comes
while one runs waits for it and goes with the next, which is what makes the groups grow. With
more slots, a message finding one free went alone and the groups stayed at one: measured with
the pipeline bench's drain (3,000 queued registrations), 2 checks and 4 recordings at a time
left the whole machine's CPU per email where it was without grouping (10.4-10.9 ms), one of
each took it to 7.3-7.9 ms and the drain from ~180 to ~230 emails a second.

A group that fails (a `record` raising, the inbox statement, the `COMMIT`, the handler timeout
over the whole group) is rolled back, and each of its messages is recorded again alone, in a
transaction of its own (`record_alone`, the path without batching), all at once: one failing
`record` fails only its own message, and no external call is made again. There are no
savepoints: they would cost two more round trips for every message, to save a redo that only
a failure costs. A `COMMIT` whose answer was lost may have committed: the redo's inbox insert
then finds the row and the message is acked as a duplicate, its effects there once.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog

from svcinfra.postgres import Coalescer

from . import _telemetry as tm
from ._delivery import in_context

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Sequence
    from contextvars import Context

    from svcinfra.messaging.inbox import Inbox
    from svcinfra.postgres import Database, Transaction

    from ._delivery import Delivery
    from ._process import Outcome, Route

_log = structlog.get_logger("svcinfra.messaging")

CHECKS_AT_ONCE = 1  # see the module's docstring: one at a time is what groups them
RECORDS_AT_ONCE = 1


@dataclass(frozen=True, slots=True)
class _Record:
    route: Route
    delivery: Delivery
    result: object
    context: Context | None  # the message's span current, when traced


async def record_alone(
    db: Database, inbox: Inbox, consumer: str, route: Route, delivery: Delivery, *, result: object
) -> Outcome:
    """Record one external-mode message in a transaction of its own: inbox row, then `record`."""
    async with db.transaction() as tx:
        added = await inbox.add(
            tx,
            consumer=consumer,
            message_id=delivery.message_id,
            message_name=delivery.name,
            result=result,
        )
        if added and route.record_many is not None:
            await route.record_many(tx, [(delivery, result)])
        elif added and route.record is not None:
            await route.record(tx, delivery, result)
    return "processed" if added else "duplicate"


class ExternalGroups:
    """The grouped inbox checks and recording transactions of one consumer's external mode."""

    def __init__(
        self, db: Database, inbox: Inbox, *, name: str, size: int, handler_timeout: float
    ) -> None:
        """Create the groups: at most `size` messages each, `handler_timeout` per transaction."""
        self._db = db
        self._inbox = inbox
        self._name = name
        self._timeout = handler_timeout
        self._checks: Coalescer[str, bool] = Coalescer(
            self._seen_many, max_size=size, concurrency=CHECKS_AT_ONCE
        )
        self._records: Coalescer[_Record, Outcome] = Coalescer(
            self._record_group, max_size=size, concurrency=RECORDS_AT_ONCE
        )

    async def seen(self, message_id: str) -> bool:
        """Whether the consumer has recorded `message_id` (checked with the others arriving)."""
        return await self._checks(message_id)

    async def record(
        self, route: Route, delivery: Delivery, result: object, context: Context | None
    ) -> Outcome:
        """Record the message and `result` with the others whose calls ended with it.

        Raises:
            Exception: what recording it alone raised, after its group failed.
        """
        return await self._records(_Record(route, delivery, result, context))

    async def close(self) -> None:
        """Finish the checks and recordings in flight (on stop)."""
        await self._checks.close()
        await self._records.close()

    async def _seen_many(self, message_ids: Sequence[str]) -> list[bool]:
        found = await self._inbox.seen_many(self._db, consumer=self._name, message_ids=message_ids)
        return [message_id in found for message_id in message_ids]

    async def _record_group(self, items: Sequence[_Record]) -> list[Outcome | Exception]:
        if len(items) == 1:
            return [await self._alone(items[0])]
        tm.RECORD_GROUP_SIZE.labels(self._name).observe(len(items))
        outcomes: list[Outcome | Exception] = []
        try:
            async with asyncio.timeout(self._timeout), self._db.transaction() as tx:
                new = await self._inbox.add_results(
                    tx,
                    consumer=self._name,
                    message_ids=[item.delivery.message_id for item in items],
                    message_names=[item.delivery.name for item in items],
                    results=[item.result for item in items],
                )
                recorded: list[_Record] = []
                for item in items:
                    message_id = item.delivery.message_id
                    if message_id not in new:
                        outcomes.append("duplicate")
                        continue
                    new.discard(message_id)  # a second copy in the group is a duplicate
                    recorded.append(item)
                    outcomes.append("processed")
                await self._call_records(tx, recorded)
        except Exception as exc:  # noqa: BLE001  (the group is redone message by message)
            tm.RECORD_GROUPS_REDONE.labels(self._name).inc()
            _log.warning(
                "amqp recording group failed; its messages are recorded one by one",
                consumer=self._name,
                messages=len(items),
                error=repr(exc),
            )
            return list(await asyncio.gather(*(self._alone(item) for item in items)))
        return outcomes

    async def _alone(self, item: _Record) -> Outcome | Exception:
        try:
            async with asyncio.timeout(self._timeout):
                coro = record_alone(
                    self._db, self._inbox, self._name, item.route, item.delivery, result=item.result
                )
                return await in_context(coro, item.context)
        except Exception as exc:  # noqa: BLE001  (returned: raised to this message's caller)
            return exc

    async def _call_records(self, tx: Transaction, items: Sequence[_Record]) -> None:
        """Each item's `record` in turn; one `record_many` call for the items of each route."""
        together: dict[int, tuple[Callable[..., Coroutine[Any, Any, None]], list[_Record]]] = {}
        for item in items:
            route = item.route
            if route.record_many is not None:
                together.setdefault(id(route), (route.record_many, []))[1].append(item)
            elif route.record is not None:
                await in_context(route.record(tx, item.delivery, item.result), item.context)
        for record_many, group in together.values():
            coro = record_many(tx, [(item.delivery, item.result) for item in group])
            await (in_context(coro, group[0].context) if len(group) == 1 else coro)
