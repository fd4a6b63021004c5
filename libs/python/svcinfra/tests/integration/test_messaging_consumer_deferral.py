"""A handler call refused before sending is deferred, not counted (MQ-9, issue 17).

On the real broker and database: a handler whose call meets an *open* circuit breaker
(`CircuitOpenError`, nothing sent) sends its message to a retry tier without spending an
attempt, for as long as the breaker stays open (bounded by `max_deferral`), and the message is
handled once the breaker lets a call through; the batched and the per-message paths alike, and
the deferred message leaves no inbox row behind. A failure that was an attempt still counts.

The breakers are real `CircuitBreaker`s on a clock the test moves, and the consumer's wall
clock too where the bound is tested: no test waits for a real timeout.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from svcinfra.httpclient import CircuitOpenError
from svcinfra.httpclient._breaker import CircuitBreaker, CircuitState, Outcome
from svcinfra.messaging.consumer import Consumer, Delivery, Retry
from svcinfra.messaging.topology import retry_queue_name
from svcinfra.testing import capture_logs

KIT = str(Path(__file__).parents[1] / "assets" / "messaging")
if KIT not in sys.path:
    sys.path.insert(0, KIT)
import msgkit  # noqa: E402  (the kit's folder is put on sys.path above)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from svcinfra.postgres import Transaction

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

REGISTERED, DELETED = msgkit.REGISTERED, msgkit.DELETED
RESET = 30.0  # the breakers' open period, on their own clock


def sample(name: str, **labels: str) -> float:
    """The current value of a metric sample (0 when it was never touched)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def deferred(svc: msgkit.Service, reason: str = "CircuitOpenError") -> float:
    return sample("svcinfra_amqp_messages_deferred_total", message=REGISTERED, queue=svc.queue,
                  reason=reason)  # fmt: skip


class Clock:
    """A clock the test moves: `now` seconds past `base`."""

    def __init__(self, base: float = 0.0) -> None:
        self.base, self.now = base, 0.0

    def __call__(self) -> float:
        return self.base + self.now


class Api:
    """An external API behind a real circuit breaker, opened by one failure at the start."""

    def __init__(self) -> None:
        self.clock = Clock()
        self.breaker = CircuitBreaker(threshold=1, reset_timeout=RESET, clock=self.clock)
        self.breaker.record(self.breaker.admit(), Outcome.FAILED)  # open now
        self.sent: list[str] = []

    def call(self, delivery: Delivery, *, attempts: int = 1) -> None:
        """Send, or raise `CircuitOpenError` as `ApiClient` does, `attempts` its attempt count."""
        admission = self.breaker.admit()
        if not admission.allowed:
            raise CircuitOpenError(
                "circuit open: failing fast", adapter="mail-api", method="POST",
                route="/v1/messages", reason="circuit_open", retry_after=admission.retry_after,
                attempts=attempts,
            )  # fmt: skip
        self.sent.append(delivery.message_id)
        self.breaker.record(admission, Outcome.HEALTHY)

    def close_circuit(self) -> None:
        """Let the open period pass: the next call is the probe, which closes the circuit."""
        self.clock.now += RESET


@pytest.fixture(name="svc")
async def _svc(amqp_server: str, amqp_names: str, postgres_db, tmp_path: Path):
    async with msgkit.service(amqp_names, postgres_db.name, tmp_path, url=amqp_server) as svc:
        yield svc


def make(svc: msgkit.Service, **options: Any) -> Consumer:
    """A consumer of the test's queue, named after the test."""
    options.setdefault("name", f"{svc.prefix}-consumer")
    return Consumer(svc.contract, svc.db, url=msgkit.AMQP_URL, **options)


@asynccontextmanager
async def running(consumer: Consumer) -> AsyncIterator[asyncio.Task[None]]:
    """Run `consumer` until the block ends, then stop it and wait for it."""
    task = asyncio.create_task(consumer.run())
    await msgkit.until(lambda: consumer.consuming or task.done())
    if task.done():
        task.result()
    try:
        yield task
    finally:
        consumer.stop()
        await task


async def inbox_ids(svc: msgkit.Service) -> set[str]:
    con = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{svc.dbname}")
    try:
        rows = await con.fetch("SELECT message_id FROM svcinfra_inbox")
    finally:
        await con.close()
    return {row["message_id"] for row in rows}


async def test_an_external_call_refused_by_an_open_circuit_waits_for_it_uncounted(svc) -> None:
    """3 messages meet an open circuit again and again (more often than the 3 attempts the
    queue allows); once it lets a call through, each is sent once, on its first attempt.

    The handler maps the client's error to the service's own and raises `Retry` from it, as
    the notifications service does: the refusal is found through the causes.
    """
    api = Api()
    add = msgkit.effects_queries().query("effects__add")
    handled: list[Delivery] = []

    async def send(delivery: Delivery) -> dict[str, object]:
        try:
            try:
                api.call(delivery)
            except CircuitOpenError as exc:
                raise ConnectionError(f"mail API unavailable: {exc}") from exc
        except ConnectionError as exc:
            raise Retry(str(exc)) from exc
        handled.append(delivery)
        return {"sent": True}

    async def record(tx: Transaction, delivery: Delivery, result: object) -> None:
        assert result == {"sent": True}
        await tx.exec(add, delivery.consumer, delivery.message_id, delivery.name,
                      delivery.attempt, None)  # fmt: skip

    consumer = make(svc)
    consumer.on_external(REGISTERED, send, record=record)
    consumer.on_external(DELETED, send, record=record)
    before = deferred(svc)
    retried = sample("svcinfra_amqp_messages_retried_total", message=REGISTERED,
                     queue=svc.queue, reason="Retry")  # fmt: skip
    with capture_logs(level="INFO") as logs:
        async with running(consumer):
            ids = [await svc.publish_json(msgkit.registered()) for _ in range(3)]
            # Each deferred at least 3 times: past the queue's 3 attempts had they counted.
            await msgkit.until(lambda: deferred(svc) >= before + 9)
            assert api.sent == []
            assert await inbox_ids(svc) == set()
            api.close_circuit()
            await msgkit.until(lambda: _has_all(svc, ids))

    assert sorted(api.sent) == sorted(ids)
    assert api.breaker.state is CircuitState.CLOSED
    assert await svc.effects() == dict.fromkeys(ids, 1)
    assert await inbox_ids(svc) == set(ids)
    for delivery in handled:
        assert delivery.attempt == 1
        assert delivery.headers["retry-count"] == 0
        assert delivery.headers["deferrals"] >= 3
        assert datetime.fromisoformat(str(delivery.headers["deferred-since"])).tzinfo is not None
    assert await svc.depth(svc.dlq) == 0
    assert sample("svcinfra_amqp_messages_retried_total", message=REGISTERED, queue=svc.queue,
                  reason="Retry") == retried  # fmt: skip
    # 30 s left on the breaker, longer than every tier: the longest tier (200 ms), each time.
    lines = logs.find("amqp message deferred: not attempted")
    assert lines
    assert {line["retry_queue"] for line in lines} == {retry_queue_name(svc.queue, 200)}
    assert {line["refused_by"] for line in lines} == {"CircuitOpenError"}


async def _has_all(svc: msgkit.Service, ids: list[str | None]) -> bool:
    return set(await svc.effects()) == set(ids)


@pytest.mark.parametrize("batch_size", [50, 1], ids=["batched", "per-message"])
async def test_a_transactional_handler_refused_by_an_open_circuit_is_rolled_back_and_deferred(
    svc, batch_size: int
) -> None:
    """The handler writes, then meets the open circuit: its effect and inbox row are rolled
    back (in a batch: to its savepoint), so it runs again after the deferral, once.

    The breaker is 0.15 s from its probe: the deferral goes to the shortest tier that waits
    that long (200 ms, not 100 ms).
    """
    api = Api()
    api.clock.now = RESET - 0.15
    record = msgkit.make_recorder(msgkit.effects_queries())
    handled: list[Delivery] = []

    async def handler(tx: Transaction, delivery: Delivery) -> None:
        await record(tx, delivery)
        api.call(delivery)
        handled.append(delivery)

    consumer = make(svc, batch_size=batch_size)
    consumer.on(REGISTERED, handler)
    consumer.on(DELETED, handler)
    batches = sample("svcinfra_amqp_inbox_batch_size_count", queue=svc.queue)
    before = deferred(svc)
    with capture_logs(level="INFO") as logs:
        async with running(consumer):
            ids = [str(uuid.uuid4()) for _ in range(5)]
            for mid in ids:
                await svc.publish_json(msgkit.registered(), message_id=mid)
            await msgkit.until(lambda: deferred(svc) >= before + 10)
            assert await svc.effects() == {}
            assert await inbox_ids(svc) == set()
            api.close_circuit()
            await msgkit.until(lambda: _has_all(svc, list(ids)))

    assert await svc.effects() == dict.fromkeys(ids, 1)
    assert await inbox_ids(svc) == set(ids)
    assert sorted(api.sent) == sorted(ids)
    assert {d.attempt for d in handled} == {1}
    assert await svc.depth(svc.dlq) == 0
    first = logs.find("amqp message deferred: not attempted")[0]
    assert first["retry_queue"] == retry_queue_name(svc.queue, 200)
    assert first["retry_after"] == pytest.approx(0.15)
    grew = sample("svcinfra_amqp_inbox_batch_size_count", queue=svc.queue) > batches
    assert grew is (batch_size > 1)


async def test_a_circuit_open_too_long_ends_in_the_dlq_with_the_reason(svc) -> None:
    """Deferrals end `max_deferral` seconds after the first: the DLQ, `deferred-too-long`,
    naming the breaker's adapter; no attempt was made, none is counted."""
    api = Api()
    wall = Clock(base=time.time())
    seen: list[Delivery] = []

    async def send(delivery: Delivery) -> None:
        seen.append(delivery)
        api.call(delivery)

    consumer = make(svc, max_deferral=600.0, clock=wall)
    consumer.on_external(REGISTERED, send)
    consumer.on_external(DELETED, send)
    dead = sample("svcinfra_amqp_messages_dead_lettered_total", message=REGISTERED,
                  queue=svc.queue, reason="deferred-too-long")  # fmt: skip
    before = deferred(svc)
    async with running(consumer):
        mid = await svc.publish_json(msgkit.registered(), headers={"tenant": "acme"})
        await msgkit.until(lambda: deferred(svc) >= before + 2)
        assert await svc.depth(svc.dlq) == 0
        wall.now += 600.0  # the consumer's clock: 10 minutes of deferrals have passed
        await msgkit.until(lambda: svc.depth(svc.dlq))

    (message,) = await svc.take(svc.dlq)
    headers = message.headers
    assert message.message_id == mid
    assert (headers["error-class"], headers["error-type"]) == ("transient", "deferred-too-long")
    text = str(headers["error-message"])
    assert text.startswith("not attempted for 600s (")
    assert "limit 600s" in text
    assert "mail-api POST /v1/messages: circuit open: failing fast" in text
    assert (headers["retry-count"], headers["attempts"]) == (0, 0)
    assert headers["deferrals"] >= 2
    assert headers["tenant"] == "acme"
    assert {d.attempt for d in seen} == {1}
    assert api.sent == []
    assert await inbox_ids(svc) == set()
    assert sample("svcinfra_amqp_messages_dead_lettered_total", message=REGISTERED,
                  queue=svc.queue, reason="deferred-too-long") == dead + 1  # fmt: skip


async def test_failures_that_were_attempts_still_count_after_a_deferral(svc) -> None:
    """Refused once (deferred), then failing for real: 3 counted attempts, then the DLQ
    (`attempts-exhausted`). A circuit that opened after the call's first attempt was sent
    (`attempts=2`) is such a failure: something reached the API."""
    api = Api()
    seen: list[Delivery] = []

    async def send(delivery: Delivery) -> None:
        seen.append(delivery)
        if len(seen) == 1:
            api.call(delivery)  # refused: open
        elif len(seen) == 2:
            raise ConnectionError("reset by peer")
        else:
            api.call(delivery, attempts=2)  # refused after a sent attempt: counted

    consumer = make(svc)
    consumer.on_external(REGISTERED, send)
    consumer.on_external(DELETED, send)
    before = deferred(svc)
    async with running(consumer):
        mid = await svc.publish_json(msgkit.registered())
        await msgkit.until(lambda: svc.depth(svc.dlq))

    (message,) = await svc.take(svc.dlq)
    headers = message.headers
    assert message.message_id == mid
    assert headers["error-type"] == "attempts-exhausted"
    assert str(headers["error-message"]).startswith("3 attempts; last: CircuitOpenError: ")
    assert (headers["attempts"], headers["retry-count"], headers["deferrals"]) == (3, 2, 1)
    assert [d.attempt for d in seen] == [1, 1, 2, 3]
    assert deferred(svc) == before + 1
