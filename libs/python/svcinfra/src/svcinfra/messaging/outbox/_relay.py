"""`Relay`: publishes the outbox's rows with confirms, then marks them sent (PG-12, MQ-4..6)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import asyncpg
import structlog
from prometheus_client import Counter, Gauge, Histogram
from pydantic import SecretStr

from svcinfra.messaging import headers as hdr
from svcinfra.messaging._errors import PublishFailedError
from svcinfra.messaging.storage import NOTIFY_CHANNEL, queries
from svcinfra.postgres import DatabaseError

if TYPE_CHECKING:
    from collections.abc import Callable

    from svcinfra.config import PostgresSettings
    from svcinfra.messaging.publisher import Publisher
    from svcinfra.postgres import Database

_log = structlog.get_logger("svcinfra.messaging")

RELAYED = Counter(
    "svcinfra_amqp_outbox_relayed",
    "Outbox rows published with a confirm and marked sent.",
    ["message"],
)
RELAY_FAILURES = Counter(
    "svcinfra_amqp_outbox_failures",
    "Outbox rows whose publish failed (they are retried after the relay's retry delay).",
    ["message", "reason"],
)
PARKED = Counter(
    "svcinfra_amqp_outbox_parked",
    "Outbox rows parked after max_failures publishes failed for a reason no retry changes.",
    ["message", "reason"],
)
RESTARTS = Counter(
    "svcinfra_amqp_outbox_relay_restarts",
    "Times the relay loop failed (database, publisher closed, a bug) and restarted after a pause.",
    ["reason"],
)
PENDING_SAMPLE_INTERVAL = 1.0  # seconds between two samples of the pending gauge
PENDING = Gauge(
    "svcinfra_amqp_outbox_pending", "Outbox rows not yet sent nor parked, sampled by the relay."
)
LAG = Histogram(
    "svcinfra_amqp_outbox_lag_seconds",
    "Seconds from an outbox row's commit to its confirmed publish.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
# Finer at the low end than LAG: the NOTIFY wake and the claim take milliseconds (issue 19).
CLAIM_LAG = Histogram(
    "svcinfra_amqp_outbox_claim_lag_seconds",
    "Seconds from an outbox row's commit to its claim by a relay (NOTIFY wake, queueing, claim).",
    buckets=hdr.COMMIT_LAG_BUCKETS,
)


@dataclass(frozen=True, slots=True)
class OutboxRow:
    """A claimed outbox row, as `outbox__claim` returns it."""

    id: str
    message_name: str
    payload: str
    correlation_id: str | None
    headers: str
    attempts: int
    failures: int
    created_at: datetime


def _observe_claimed(rows: list[OutboxRow]) -> None:
    """Commit -> claim of each row claimed for the first time (a retry's wait is its delay)."""
    claimed = datetime.now(UTC)
    for row in rows:
        if row.attempts == 1:
            CLAIM_LAG.observe(max((claimed - row.created_at).total_seconds(), 0.0))


@dataclass(frozen=True, slots=True)
class _Failed:
    """A row's publish failed: why, and whether the failure counts toward parking it."""

    reason: str
    error: str
    counts: bool


class Relay:
    """Moves committed outbox rows to the broker, at least once, with their own message_id.

        relay = Relay.from_settings(db, publisher, config.postgres)
        lifecycle.add_task("outbox-relay", relay.run, stop=relay.stop)
        lifecycle.add_readiness_check("outbox-relay", relay.ready)

    Each batch is claimed by one statement (`FOR UPDATE SKIP LOCKED`, plus a lease) that commits
    before anything is sent, published concurrently with publisher confirms, then marked sent:
    no transaction is open across a network call (PG-12). Relays side by side claim disjoint
    batches. A relay that dies between the confirm and the mark leaves its batch to the next
    claimer once the lease ends, which publishes it again with the same message_ids; consumers'
    inboxes make that one effect (MQ-3).

    A failed publish is retried after `retry_delay`, doubled on each failure up to
    `max_retry_delay`. A failure no retry changes (the exchange is gone, the payload no longer
    satisfies the contract, the broker returned it) counts toward parking: after `max_failures`
    of them the row is parked (`status = 'parked'`, a log line with the reason, the
    `svcinfra_amqp_outbox_parked` metric) and left to an operator (`svcinfra outbox`). A
    temporary failure (the broker down past the publish deadline, a nack) never parks a row.

    The loop is supervised: whatever it raises (the database down, the publisher closed, a bug)
    is logged, the batch in hand is given back, and the loop starts again after a pause that
    doubles from `restart_delay` up to `max_restart_delay`; only `stop` ends `run`. `ready` is
    False once `failing_after` loops in a row have failed, so readiness shows a relay that
    keeps failing while the process stays up.

    The relay wakes on the NOTIFY that `Outbox.add` sends at commit, on a connection of its own,
    and polls every `poll_interval` seconds as well (a lost notification, a listener that is
    reconnecting). Order is not kept: a batch is published concurrently.
    """

    def __init__(
        self,
        db: Database,
        publisher: Publisher,
        *,
        listen_dsn: str | SecretStr | None = None,
        batch_size: int = 100,
        poll_interval: float = 1.0,
        lease: float = 60.0,
        retry_delay: float = 5.0,
        max_retry_delay: float = 300.0,
        max_failures: int = 10,
        retention: float = 86_400.0,
        restart_delay: float = 1.0,
        max_restart_delay: float = 60.0,
        failing_after: int = 3,
        clock: Callable[[], float] | None = None,
    ) -> None:
        """Create a relay; `run` starts it.

        Args:
            db: the service's database, holding `svcinfra_outbox`.
            publisher: publishes each row (its `message_id=` is the row's id).
            listen_dsn: where to LISTEN for new rows; None polls only.
            batch_size: rows claimed and published at once (the confirm window).
            poll_interval: seconds between polls when no notification comes.
            lease: seconds a claim lasts; longer than a publish's deadline.
            retry_delay: seconds a row whose publish failed waits before its next attempt,
                doubled on each failure that counts toward parking.
            max_retry_delay: the longest wait between two attempts of a row.
            max_failures: failures no retry changes after which a row is parked.
            retention: seconds sent rows are kept before the relay deletes them.
            restart_delay: seconds the loop pauses after its first failure in a row.
            max_restart_delay: the longest pause between two restarts.
            failing_after: loops failed in a row after which `ready` is False.
            clock: monotonic seconds (tests move it); `loop.time` when None.
        """
        if min(batch_size, poll_interval, lease, retry_delay, retention, restart_delay) <= 0:
            raise ValueError("batch_size, intervals, delays and the lease must be positive")
        if max_failures < 1 or failing_after < 1:
            raise ValueError("max_failures and failing_after must be at least 1")
        if max_retry_delay < retry_delay or max_restart_delay < restart_delay:
            raise ValueError("a maximum delay must not be shorter than its first delay")
        self._db = db
        self._publisher = publisher
        self._dsn = SecretStr(listen_dsn) if isinstance(listen_dsn, str) else listen_dsn
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._lease = lease
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._max_failures = max_failures
        self._retention = retention
        self._restart_delay = restart_delay
        self._max_restart_delay = max_restart_delay
        self._failing_after = failing_after
        self._clock = clock
        loaded = queries()
        self._claim = loaded.query("outbox__claim")
        self._mark = loaded.query("outbox__mark_sent")
        self._release = loaded.query("outbox__release")
        self._park = loaded.query("outbox__park")
        self._unclaim = loaded.query("outbox__unclaim")
        self._purge = loaded.query("outbox__purge_sent")
        self._pending = loaded.query("outbox__pending")
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listening = False
        self._failed_loops = 0
        self._last_error: str | None = None

    @classmethod
    def from_settings(
        cls,
        db: Database,
        publisher: Publisher,
        settings: PostgresSettings,
        **options: Any,  # noqa: ANN401  (the keyword options of __init__)
    ) -> Relay:
        """Create a relay that listens on the database `settings` describe."""
        return cls(db, publisher, listen_dsn=settings.dsn(), **options)

    @property
    def listening(self) -> bool:
        """Whether the LISTEN connection is up (polling covers the gaps when it is not)."""
        return self._listening

    @property
    def failing(self) -> bool:
        """Whether the last `failing_after` loops (or more) all failed."""
        return self._failed_loops >= self._failing_after

    @property
    def last_error(self) -> str | None:
        """The error of the last failed loop while the relay is failing, else None."""
        return self._last_error if self._failed_loops else None

    async def ready(self) -> bool:
        """The readiness check (`Lifecycle.add_readiness_check`): False while `failing`."""
        return not self.failing

    def stop(self) -> None:
        """Ask `run` to return after the batch in progress (for `Lifecycle.add_task`)."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Relay until `stop`: a batch whenever woken or every `poll_interval` seconds.

        Nothing but `stop` (or a cancellation) ends it: a failed loop is logged, counted in
        `svcinfra_amqp_outbox_relay_restarts` and started again after a growing pause.
        """
        listener = asyncio.create_task(self._listen()) if self._dsn is not None else None
        try:
            while not self._stopping.is_set():
                try:
                    await self._loop()
                except Exception as exc:  # noqa: BLE001  (supervised: logged, restarted)
                    await self._restart_after(exc)
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def _loop(self) -> None:
        next_purge = next_sample = self._now()
        while not self._stopping.is_set():
            self._wake.clear()
            relayed = await self.relay_batch()
            if self._now() >= next_purge:
                next_purge = self._now() + max(self._retention / 10, 1.0)
                await self._db.execrows(self._purge, self._retention)
            if self._now() >= next_sample:  # not a round trip per batch under load (issue 19)
                next_sample = self._now() + PENDING_SAMPLE_INTERVAL
                PENDING.set(await self._db.one(self._pending, row=int))
            if self._failed_loops:
                _log.info("outbox relay recovered", failed_loops=self._failed_loops)
                self._failed_loops = 0
            if relayed >= self._batch_size:
                continue  # more are probably waiting
            await self._pause(self._poll_interval, wake=True)

    async def _restart_after(self, exc: Exception) -> None:
        self._failed_loops += 1
        self._last_error = f"{type(exc).__name__}: {exc}"[:512]
        reason = "database" if isinstance(exc, DatabaseError) else type(exc).__name__
        RESTARTS.labels(reason).inc()
        delay = min(self._restart_delay * 2 ** (self._failed_loops - 1), self._max_restart_delay)
        log = _log.warning if isinstance(exc, DatabaseError) else _log.exception
        log(
            "outbox relay failed; restarting",
            error=self._last_error,
            failed_loops=self._failed_loops,
            restart_in_s=delay,
            failing=self.failing,
        )
        await self._pause(delay, wake=False)

    async def relay_batch(self) -> int:
        """Claim, publish and mark one batch; return how many rows were sent.

        Raises:
            Exception: the relay, not a row, failed (the publisher closed, the database): the
                rows not yet settled are handed back unclaimed, and the error is raised.
        """
        rows = await self._db.many(self._claim, self._batch_size, self._lease, row=OutboxRow)
        if not rows:
            return 0
        _observe_claimed(rows)
        outcomes = await asyncio.gather(
            *(self._publish(row) for row in rows), return_exceptions=True
        )
        sent = [row for row, outcome in zip(rows, outcomes, strict=True) if outcome is None]
        broken = [
            (row, outcome)
            for row, outcome in zip(rows, outcomes, strict=True)
            if isinstance(outcome, BaseException)
        ]
        try:
            if sent:
                await self._mark_sent([row.id for row in sent])
                now = datetime.now(UTC)
                for row in sent:
                    RELAYED.labels(row.message_name).inc()
                    LAG.observe(max((now - row.created_at).total_seconds(), 0.0))
            for row, outcome in zip(rows, outcomes, strict=True):
                if isinstance(outcome, _Failed):
                    await self._settle_failure(row, outcome)
        finally:
            if broken:
                with contextlib.suppress(DatabaseError):  # else the lease hands them back
                    await self._db.execrows(self._unclaim, [row.id for row, _ in broken])
        if broken:
            error = broken[0][1]
            if not isinstance(error, Exception):  # one publish cancelled, not the relay
                raise RuntimeError(f"a publish ended with {error!r}") from error
            raise error
        return len(sent)

    async def _settle_failure(self, row: OutboxRow, failed: _Failed) -> None:
        failures = row.failures + (1 if failed.counts else 0)
        if failed.counts and failures >= self._max_failures:
            await self._db.execrows(self._park, row.id, failed.error[:512])
            PARKED.labels(row.message_name, failed.reason).inc()
            _log.error(
                "outbox row parked: its publish keeps failing; see `svcinfra outbox show`",
                message=row.message_name,
                message_id=row.id,
                correlation_id=row.correlation_id,
                failures=failures,
                reason=failed.reason,
                error=failed.error,
            )
            return
        delay = min(self._retry_delay * 2 ** max(failures - 1, 0), self._max_retry_delay)
        await self._db.exec(self._release, row.id, delay, failed.error[:512], failed.counts)

    async def _publish(self, row: OutboxRow) -> _Failed | None:
        """Publish one row; return None when confirmed, else why it failed.

        Raises:
            Exception: anything that is not the row's own failure (the publisher is closed).
        """
        try:
            payload = json.loads(row.payload)
            headers = json.loads(row.headers) or None
            await self._publisher.publish(
                row.message_name,
                payload,
                correlation_id=row.correlation_id,
                headers=headers,
                message_id=row.id,
                committed_at=row.created_at.timestamp(),
            )
        except PublishFailedError as exc:
            failed = _Failed(type(exc).__name__, f"{type(exc).__name__}: {exc}", not exc.temporary)
        except ValueError as exc:  # the row's JSON (written by hand?) does not decode
            failed = _Failed("InvalidRow", f"{type(exc).__name__}: {exc}", counts=True)
        else:
            return None
        RELAY_FAILURES.labels(row.message_name, failed.reason).inc()
        _log.error(
            "outbox row not published",
            message=row.message_name,
            message_id=row.id,
            correlation_id=row.correlation_id,
            attempt=row.attempts,
            failures=row.failures + (1 if failed.counts else 0),
            error=failed.error,
        )
        return failed

    async def _mark_sent(self, ids: list[str]) -> None:
        await self._db.execrows(self._mark, ids)

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    async def _pause(self, seconds: float, *, wake: bool) -> None:
        """Wait `seconds`, or less when stopped (or, with `wake`, when woken)."""
        event = self._wake if wake else self._stopping
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await event.wait()

    async def _listen(self) -> None:
        """Keep a LISTEN connection open; every notification (and reconnect) wakes the relay."""
        while not self._stopping.is_set():
            try:
                if await self._listen_once():
                    continue  # it was up, then lost: reconnect at once
            except Exception as exc:  # noqa: BLE001  (supervised like the loop: polling covers)
                _log.warning("outbox relay listener failed; polling", error=repr(exc))
            await self._pause(self._poll_interval, wake=False)

    async def _listen_once(self) -> bool:
        """Listen until the connection is lost; False when listening never started."""
        assert self._dsn is not None  # noqa: S101  (run starts this only with a DSN)

        def notified(*_: object) -> None:
            self._wake.set()

        lost = asyncio.Event()
        try:
            con = await asyncpg.connect(self._dsn.get_secret_value(), timeout=5.0)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            _log.warning("outbox relay cannot listen; polling", error=type(exc).__name__)
            return False
        listened = False
        try:
            con.add_termination_listener(lambda *_: lost.set())
            await con.add_listener(NOTIFY_CHANNEL, notified)
            self._listening = listened = True
            self._wake.set()  # rows may have been committed while nobody listened
            await lost.wait()
            _log.warning("outbox relay lost its LISTEN connection; polling meanwhile")
        except (OSError, asyncpg.PostgresError) as exc:
            _log.warning("outbox relay listen failed", error=type(exc).__name__)
        finally:
            self._listening = False
            with contextlib.suppress(Exception):
                await asyncio.wait_for(con.close(), timeout=1.0)
        return listened
