"""`Dispatcher`: the process that commits an outbox row publishes it itself (issue 19).

The relay's way to the broker starts with the commit's NOTIFY, the relay's wake-up and its claim
(a statement and a commit of its own): ~1.5-2 ms of an idle register -> email path of ~7 ms on
the reference machine. A writer that publishes its own rows right after their commit takes that
hop off the path; the relay stays, for what the writer could not send.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from asyncio import FIRST_COMPLETED
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from prometheus_client import Counter

from svcinfra.messaging._errors import PublishFailedError
from svcinfra.messaging.storage import queries
from svcinfra.postgres import DatabaseError

from ._relay import LAG

if TYPE_CHECKING:
    from collections.abc import Callable

    from svcinfra.messaging.publisher import Publisher
    from svcinfra.postgres import Database

_log = structlog.get_logger("svcinfra.messaging")

DISPATCHED = Counter(
    "svcinfra_amqp_outbox_dispatched",
    "Outbox rows their writer published with a confirm right after the commit (marked sent in "
    "groups after).",
    ["message"],
)
HANDED_BACK = Counter(
    "svcinfra_amqp_outbox_handed_back",
    "Outbox rows their writer could not publish and handed to the relay (broker down, stopping).",
    ["message", "reason"],
)


@dataclass(frozen=True, slots=True)
class Dispatched:
    """A committed outbox row, as its writer wrote it."""

    message_id: str
    message_name: str
    body: str  # the row's payload, JSON
    correlation_id: str | None
    headers: dict[str, Any] | None
    committed_at: float  # the row's created_at, epoch seconds


class Dispatcher:
    """Publishes the outbox rows this process commits, right after their commit.

        publisher = Publisher.from_settings(contract, config.amqp, name="users-api")
        dispatcher = Dispatcher(db, publisher)
        outbox = Outbox(contract, dispatcher=dispatcher)
        lifecycle.push_close("publisher", publisher.close)
        lifecycle.push_close("outbox-dispatcher", dispatcher.close)
        lifecycle.add_task("outbox-dispatcher", dispatcher.run, stop=dispatcher.stop)

    While `accepting`, `Outbox.add` writes its row already leased to this process for `lease`
    seconds and counted as its first attempt, and sends no NOTIFY: no relay claims it. When the
    transaction commits (`Transaction.after_commit`), the row is published here with a confirm,
    with its own message_id, and marked sent (the marks of publishes confirmed together are one
    statement). Nothing happens if the transaction rolls back.

    Every failure goes the relay's way, with the relay's retries and parking:

    * a publish that fails, or does not end within half the lease, hands its row back at once
      (`claimed_until` cleared, a NOTIFY wakes the relay);
    * a process that dies, or stops, holding rows leaves them to the relay when their lease ends;
    * a mark that fails (or a process that dies between the confirm and the mark) leaves a sent
      row leased: the relay publishes it again with the same message_id after the lease, and the
      consumers' inboxes make that one effect (MQ-3).

    `accepting` is False while the publisher is not connected or the broker blocks it, once
    stopping, while `max_in_flight` rows are in hand, while the process is saturated (a query
    waits for a connection of `db`'s pool), beyond `max_rate` rows a second, and for
    `reconnect_interval` seconds after a publish failed for a reason no retry changes (the
    exchange not declared yet: the relay declares it); `Outbox.add` then writes the row for the
    relay, as without a dispatcher. So the writer never waits for the broker and its readiness
    does not depend on it: `run` only keeps the connection, reconnecting every
    `reconnect_interval` seconds while it is down.

    The saturation and rate bounds keep the writer's own work near the raw stack under load. The
    hop this saves matters while the pipeline is idle or lightly loaded; under load, the relay, a
    process of its own, publishes in batches (one claim and one mark per hundred rows) what
    would cost the process answering the requests a publish and a confirm each (measured on the
    reference machine: 1.1-1.8 ms of the writer's CPU per row it publishes at saturation,
    wake-ups and syscalls included, against ~0.4 ms in a tight loop).
    Marks wait up to `mark_linger` seconds so that those of rows published close together are
    one statement (a mark's delay costs no latency: only its lease waits for it).
    """

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        *,
        lease: float = 15.0,
        max_rate: float = 20.0,
        max_in_flight: int = 64,
        mark_linger: float = 0.5,
        reconnect_interval: float = 5.0,
        close_timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create a dispatcher; `run` keeps its publisher connected.

        Args:
            db: the service's database, holding `svcinfra_outbox`.
            publisher: publishes each row; this process's own.
            lease: seconds a row is the writer's before the relay may send it; each publish is
                given half of it.
            max_rate: rows a second this process publishes at most (a burst of up to a tenth
                of it, at least one, passes at once); beyond it rows go to the relay.
            max_in_flight: rows published at once, beyond which rows go to the relay.
            mark_linger: seconds a confirmed row waits to be marked sent with others.
            reconnect_interval: seconds between two connection attempts while disconnected.
            close_timeout: seconds `close` waits for the publishes in flight.
            clock: monotonic seconds, for the rate bound (tests move it).
        """
        if min(lease, max_rate, reconnect_interval, close_timeout) <= 0 or max_in_flight < 1:
            raise ValueError("the lease, rate, intervals and max_in_flight must be positive")
        if mark_linger < 0:
            raise ValueError("mark_linger must not be negative")
        self._db = db
        self._publisher = publisher
        self._lease = lease
        self._max_in_flight = max_in_flight
        self._rate = max_rate
        self._burst = max(max_rate / 10, 1.0)
        self._tokens = self._burst
        self._clock = clock
        self._refilled = clock()
        self._paused_until = float("-inf")
        self._mark_linger = mark_linger
        self._reconnect_interval = reconnect_interval
        self._close_timeout = close_timeout
        loaded = queries()
        self._mark = loaded.query("outbox__mark_sent")
        self._hand_back = loaded.query("outbox__hand_back")
        self._to_mark: list[Dispatched] = []
        self._mark_timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._closed = False

    @property
    def lease(self) -> float:
        """Seconds a row written for this dispatcher is leased to it."""
        return self._lease

    @property
    def accepting(self) -> bool:
        """Whether the publisher is up and this process may take one more row now."""
        publisher = self._publisher
        return (
            not self._closed
            and publisher.connected
            and not publisher.blocked
            and len(self._tasks) < self._max_in_flight
            and self._db.pool_stats()[3] == 0  # no query waits for a connection
            and self._tokens_at(self._clock()) >= 1.0
            and self._clock() >= self._paused_until
        )

    def take(self) -> bool:
        """Take a row for this process if `accepting` (`Outbox.add`: False, the relay's way)."""
        if not self.accepting:
            return False
        now = self._clock()
        self._tokens = self._tokens_at(now) - 1.0
        self._refilled = now
        return True

    def _tokens_at(self, now: float) -> float:
        return min(self._burst, self._tokens + (now - self._refilled) * self._rate)

    @property
    def in_flight(self) -> int:
        """Rows being published now."""
        return len(self._tasks)

    def dispatch(self, row: Dispatched) -> None:
        """Publish a committed row (its transaction's after-commit callback)."""
        task = asyncio.get_running_loop().create_task(self._send(row))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def run(self) -> None:
        """Keep the publisher connected until `stop` (for `Lifecycle.add_task`)."""
        down_since: float | None = None
        while not self._stopping.is_set():
            if not self._publisher.connected:
                try:
                    await self._publisher.start()
                except Exception as exc:  # noqa: BLE001  (the relay covers; retried below)
                    if down_since is None:
                        down_since = time.monotonic()
                        _log.warning(
                            "outbox dispatcher cannot reach the broker; the relay sends the "
                            "outbox meanwhile",
                            error=f"{type(exc).__name__}: {exc}"[:512],
                        )
                else:
                    if down_since is not None:
                        _log.info(
                            "outbox dispatcher connected again",
                            down_s=round(time.monotonic() - down_since, 1),
                        )
                    down_since = None
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._reconnect_interval):
                    await self._stopping.wait()

    def stop(self) -> None:
        """Ask `run` to return; rows committed from now on go to the relay."""
        self._closed = True
        self._stopping.set()

    async def close(self) -> None:
        """Stop accepting; wait up to `close_timeout` for the publishes in flight and the marks.

        The marks waiting for their linger go at once. A publish or a mark still running at the
        timeout is cancelled: its rows go to the relay when their lease ends (they may have been
        published already; the relay's copy has the same message_id).
        """
        self.stop()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._close_timeout
        while True:
            if self._to_mark:
                self._start_marking()  # now, not after the linger
            left = deadline - loop.time()
            if not self._tasks or left <= 0:
                break
            await asyncio.wait(set(self._tasks), timeout=left, return_when=FIRST_COMPLETED)
        running = list(self._tasks)
        for task in running:
            task.cancel()
        if running:  # a statement on a hung database ends at its command timeout: not awaited
            await asyncio.wait(running, timeout=1.0)

    async def _send(self, row: Dispatched) -> None:
        if self._closed:
            await self._give_back(row, "stopping")
            return
        try:
            async with asyncio.timeout(self._lease / 2):
                await self._publisher.publish(
                    row.message_name,
                    json.loads(row.body),
                    correlation_id=row.correlation_id,
                    headers=row.headers,
                    message_id=row.message_id,
                    committed_at=row.committed_at,
                    log_failure=False,  # handled: the relay sends it
                )
        except Exception as exc:  # noqa: BLE001  (the relay sends it instead)
            reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            if isinstance(exc, PublishFailedError) and not exc.temporary:
                # No retry changes it (the exchange not declared yet, a return): the next rows
                # would fail alike, so they go to the relay for a while.
                self._paused_until = self._clock() + self._reconnect_interval
            _log.warning(
                "outbox row handed to the relay: its writer could not publish it",
                message=row.message_name,
                message_id=row.message_id,
                correlation_id=row.correlation_id,
                error=f"{type(exc).__name__}: {exc}"[:512],
            )
            await self._give_back(row, reason)
            return
        LAG.observe(max(time.time() - row.committed_at, 0.0))
        DISPATCHED.labels(row.message_name).inc()
        self._to_mark.append(row)
        if self._mark_timer is None:
            self._mark_timer = asyncio.get_running_loop().call_later(
                self._mark_linger, self._start_marking
            )

    async def _give_back(self, row: Dispatched, reason: str) -> None:
        HANDED_BACK.labels(row.message_name, reason).inc()
        try:
            await self._db.execrows(self._hand_back, [row.message_id])
        except DatabaseError as exc:  # the lease hands it back
            _log.warning(
                "outbox row not handed back; the relay sends it when its lease ends",
                message=row.message_name,
                message_id=row.message_id,
                error=f"{type(exc).__name__}: {exc}"[:512],
            )

    def _start_marking(self) -> None:
        if self._mark_timer is not None:
            self._mark_timer.cancel()
            self._mark_timer = None
        task = asyncio.get_running_loop().create_task(self._flush_marks())
        self._tasks.add(task)  # `close` waits for it like a publish
        task.add_done_callback(self._tasks.discard)

    async def _flush_marks(self) -> None:
        """Mark the confirmed rows sent, in one statement."""
        rows, self._to_mark = self._to_mark, []
        if not rows:
            return
        try:
            await self._db.execrows(self._mark, [row.message_id for row in rows])
        except DatabaseError as exc:
            _log.warning(
                "outbox rows published but not marked sent; the relay sends them again after "
                "their lease (same message_ids)",
                rows=len(rows),
                message_ids=[row.message_id for row in rows[:10]],
                error=f"{type(exc).__name__}: {exc}"[:512],
            )
            return
