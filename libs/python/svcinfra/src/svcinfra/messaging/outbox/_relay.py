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

from svcinfra.messaging._errors import PublishFailedError
from svcinfra.messaging.storage import NOTIFY_CHANNEL, queries
from svcinfra.postgres import DatabaseError

if TYPE_CHECKING:
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
PENDING = Gauge("svcinfra_amqp_outbox_pending", "Outbox rows not yet sent, sampled by the relay.")
LAG = Histogram(
    "svcinfra_amqp_outbox_lag_seconds",
    "Seconds from an outbox row's commit to its confirmed publish.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
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
    created_at: datetime


class Relay:
    """Moves committed outbox rows to the broker, at least once, with their own message_id.

        relay = Relay.from_settings(db, publisher, config.postgres)
        lifecycle.add_task("outbox-relay", relay.run, stop=relay.stop)

    Each batch is claimed by one statement (`FOR UPDATE SKIP LOCKED`, plus a lease) that commits
    before anything is sent, published concurrently with publisher confirms, then marked sent:
    no transaction is open across a network call (PG-12). Relays side by side claim disjoint
    batches. A relay that dies between the confirm and the mark leaves its batch to the next
    claimer once the lease ends, which publishes it again with the same message_ids; consumers'
    inboxes make that one effect (MQ-3). A failed publish is retried after `retry_delay`.

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
        retention: float = 86_400.0,
    ) -> None:
        """Create a relay; `run` starts it.

        Args:
            db: the service's database, holding `svcinfra_outbox`.
            publisher: publishes each row (its `message_id=` is the row's id).
            listen_dsn: where to LISTEN for new rows; None polls only.
            batch_size: rows claimed and published at once (the confirm window).
            poll_interval: seconds between polls when no notification comes.
            lease: seconds a claim lasts; longer than a publish's deadline.
            retry_delay: seconds a row whose publish failed waits before its next attempt.
            retention: seconds sent rows are kept before the relay deletes them.
        """
        if min(batch_size, poll_interval, lease, retry_delay, retention) <= 0:
            raise ValueError("batch_size, intervals and the lease must be positive")
        self._db = db
        self._publisher = publisher
        self._dsn = SecretStr(listen_dsn) if isinstance(listen_dsn, str) else listen_dsn
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._lease = lease
        self._retry_delay = retry_delay
        self._retention = retention
        loaded = queries()
        self._claim = loaded.query("outbox__claim")
        self._mark = loaded.query("outbox__mark_sent")
        self._release = loaded.query("outbox__release")
        self._purge = loaded.query("outbox__purge_sent")
        self._pending = loaded.query("outbox__pending")
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._listening = False

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

    def stop(self) -> None:
        """Ask `run` to return after the batch in progress (for `Lifecycle.add_task`)."""
        self._stopping.set()
        self._wake.set()

    async def run(self) -> None:
        """Relay until `stop`: a batch whenever woken or every `poll_interval` seconds."""
        listener = asyncio.create_task(self._listen()) if self._dsn is not None else None
        loop = asyncio.get_running_loop()
        next_purge = loop.time()
        try:
            while not self._stopping.is_set():
                self._wake.clear()
                try:
                    relayed = await self.relay_batch()
                    if loop.time() >= next_purge:
                        next_purge = loop.time() + max(self._retention / 10, 1.0)
                        await self._db.execrows(self._purge, self._retention)
                except DatabaseError as exc:
                    _log.warning("outbox relay database error", error=str(exc))
                    relayed = 0
                if relayed >= self._batch_size:
                    continue  # more are probably waiting
                with contextlib.suppress(DatabaseError):
                    PENDING.set(await self._db.one(self._pending, row=int))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._poll_interval):
                        await self._wake.wait()
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def relay_batch(self) -> int:
        """Claim, publish and mark one batch; return how many rows were sent."""
        rows = await self._db.many(self._claim, self._batch_size, self._lease, row=OutboxRow)
        if not rows:
            return 0
        outcomes = await asyncio.gather(*(self._publish(row) for row in rows))
        sent = [row for row, error in zip(rows, outcomes, strict=True) if error is None]
        if sent:
            await self._mark_sent([row.id for row in sent])
            now = datetime.now(UTC)
            for row in sent:
                RELAYED.labels(row.message_name).inc()
                LAG.observe(max((now - row.created_at).total_seconds(), 0.0))
        for row, error in zip(rows, outcomes, strict=True):
            if error is not None:
                await self._db.exec(self._release, row.id, self._retry_delay, error[:512])
        return len(sent)

    async def _publish(self, row: OutboxRow) -> str | None:
        """Publish one row; return None when confirmed, else the failure's description."""
        try:
            await self._publisher.publish(
                row.message_name,
                json.loads(row.payload),
                correlation_id=row.correlation_id,
                headers=json.loads(row.headers) or None,
                message_id=row.id,
            )
        except PublishFailedError as exc:
            reason = type(exc).__name__
            RELAY_FAILURES.labels(row.message_name, reason).inc()
            _log.error(
                "outbox row not published",
                message=row.message_name,
                message_id=row.id,
                correlation_id=row.correlation_id,
                attempt=row.attempts,
                error=str(exc),
            )
            return f"{reason}: {exc}"
        return None

    async def _mark_sent(self, ids: list[str]) -> None:
        await self._db.execrows(self._mark, ids)

    async def _listen(self) -> None:
        """Keep a LISTEN connection open; every notification (and reconnect) wakes the relay."""
        assert self._dsn is not None  # noqa: S101  (run starts this only with a DSN)

        def notified(*_: object) -> None:
            self._wake.set()

        while not self._stopping.is_set():
            lost = asyncio.Event()
            try:
                con = await asyncpg.connect(self._dsn.get_secret_value(), timeout=5.0)
            except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
                _log.warning("outbox relay cannot listen; polling", error=type(exc).__name__)
                await asyncio.sleep(self._poll_interval)
                continue
            try:
                con.add_termination_listener(lambda *_, lost=lost: lost.set())
                await con.add_listener(NOTIFY_CHANNEL, notified)
                self._listening = True
                self._wake.set()  # rows may have been committed while nobody listened
                await lost.wait()
                _log.warning("outbox relay lost its LISTEN connection; polling meanwhile")
            except (OSError, asyncpg.PostgresError) as exc:
                _log.warning("outbox relay listen failed", error=type(exc).__name__)
            finally:
                self._listening = False
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(con.close(), timeout=1.0)
