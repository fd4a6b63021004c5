"""The consumer on the real broker and database: every outcome path (MQ-3, MQ-7..MQ-11, PG-12)."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import uuid
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, get_current_span
from prometheus_client import REGISTRY

from svcinfra.messaging import MessagingError, Publisher
from svcinfra.messaging.consumer import Consumer, Delivery, Reject, Retry
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


def sample(name: str, **labels: str) -> float:
    """The current value of a metric sample (0 when it was never touched)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


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


def recorder(svc: msgkit.Service, seen: list[Delivery] | None = None):  # noqa: ARG001  (reads alike at call sites)
    """A transactional handler recording an effect row (and the delivery, if asked)."""
    record = msgkit.make_recorder(msgkit.effects_queries())

    async def handler(tx: Transaction, delivery: Delivery) -> None:
        if seen is not None:
            seen.append(delivery)
        await record(tx, delivery)

    return handler


def both(consumer: Consumer, handler) -> None:
    consumer.on(REGISTERED, handler)
    consumer.on(DELETED, handler)


async def test_a_message_is_processed_once_with_its_metadata_trace_and_logs(svc) -> None:
    """A published message reaches its handler with id, correlation, attempt; acked, linked."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    seen: list[Delivery] = []
    consumer = make(svc, tracer_provider=provider)
    both(consumer, recorder(svc, seen))
    acked = sample("svcinfra_amqp_messages_acked_total", message=REGISTERED, queue=svc.queue,
                   outcome="processed")  # fmt: skip
    payload = msgkit.registered()

    with capture_logs(level="DEBUG") as logs:
        async with running(consumer):
            async with Publisher(svc.contract, url=msgkit.AMQP_URL,
                                 tracer_provider=provider) as publisher:  # fmt: skip
                receipt = await publisher.publish(REGISTERED, payload, correlation_id="req-1")
            await msgkit.until(lambda: seen)
            await msgkit.until(svc.effects)

    (delivery,) = seen
    assert (delivery.message_id, delivery.correlation_id) == (receipt.message_id, "req-1")
    assert (delivery.name, delivery.version, delivery.attempt) == (REGISTERED, 1, 1)
    assert delivery.payload == payload
    assert (delivery.exchange, delivery.routing_key, delivery.queue) == (
        svc.exchange, REGISTERED, svc.queue,
    )  # fmt: skip
    assert delivery.idempotency_key == f"{svc.prefix}-consumer:{receipt.message_id}"
    assert await svc.effects() == {receipt.message_id: 1}
    assert await svc.depth(svc.queue) == 0
    assert sample("svcinfra_amqp_messages_acked_total", message=REGISTERED, queue=svc.queue,
                  outcome="processed") == acked + 1  # fmt: skip
    producer = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.PRODUCER)
    process = next(s for s in exporter.get_finished_spans() if s.kind == SpanKind.CONSUMER)
    assert [link.context.trace_id for link in process.links] == [producer.context.trace_id]
    assert process.attributes is not None
    assert process.attributes["messaging.message.id"] == receipt.message_id
    (line,) = logs.find("amqp message processed")
    assert (line["message_id"], line["correlation_id"]) == (receipt.message_id, "req-1")
    assert (line["routing_key"], line["attempt"]) == (REGISTERED, 1)


async def test_grouped_handlers_and_records_run_under_their_own_message_span(svc) -> None:
    """Handlers batched together and records committed together each see their own message's
    span as the current one (the parent of their spans), not the group's first message's."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    current: dict[str, int] = {}
    record_effect = recorder(svc)

    async def handler(tx: Transaction, delivery: Delivery) -> None:
        current[delivery.message_id] = get_current_span().get_span_context().span_id
        await record_effect(tx, delivery)

    async def call_api(delivery: Delivery) -> str:
        return delivery.idempotency_key

    async def record(tx: Transaction, delivery: Delivery, result: object) -> None:
        del tx, result
        current[delivery.message_id] = get_current_span().get_span_context().span_id

    consumer = make(svc, tracer_provider=provider)
    consumer.on(REGISTERED, handler)
    consumer.on_external(DELETED, call_api, record=record)
    ids = [await svc.publish_json(msgkit.registered()) for _ in range(8)]
    ids += [
        await svc.publish_json(msgkit.deleted(), routing_key=DELETED, message_type=DELETED)
        for _ in range(8)
    ]  # all queued before the consumer starts: they arrive, and are settled, together
    async with running(consumer):
        await msgkit.until(lambda: len(current) == len(ids))

    spans = {
        span.attributes["messaging.message.id"]: span.context.span_id
        for span in exporter.get_finished_spans()
        if span.kind == SpanKind.CONSUMER and span.attributes
    }
    assert current == {mid: spans[mid] for mid in ids}
    assert len(set(current.values())) == len(ids)


async def test_a_duplicate_delivery_has_one_effect(svc) -> None:
    """The same message_id delivered three times is processed once and acked thrice (MQ-3)."""
    consumer = make(svc)
    both(consumer, recorder(svc))
    labels = {"message": REGISTERED, "queue": svc.queue}
    duplicates = sample("svcinfra_amqp_messages_acked_total", **labels, outcome="duplicate")
    mid = str(uuid.uuid4())
    async with running(consumer):
        for _ in range(3):
            await svc.publish_json(msgkit.registered(), message_id=mid)
        await msgkit.until(
            lambda: (
                sample("svcinfra_amqp_messages_acked_total", **labels, outcome="duplicate")
                >= duplicates + 2
            )
        )

    assert await svc.effects() == {mid: 1}
    assert await svc.depth(svc.queue) == 0


async def test_a_temporary_failure_is_retried_through_the_tiers(svc) -> None:
    """Retry on attempts 1 and 2 goes through both wait queues; attempt 3 succeeds (MQ-9)."""
    attempts: list[int] = []
    record = recorder(svc)

    async def flaky(tx: Transaction, delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        if delivery.attempt < 3:
            raise Retry("mail API answered 503")
        await record(tx, delivery)

    consumer = make(svc)
    both(consumer, flaky)
    retried = sample("svcinfra_amqp_messages_retried_total", message=REGISTERED,
                     queue=svc.queue, reason="Retry")  # fmt: skip
    async with running(consumer):
        mid = await svc.publish_json(msgkit.registered())
        await msgkit.until(svc.effects)

    assert attempts == [1, 2, 3]
    assert await svc.effects() == {mid: 1}
    assert sample("svcinfra_amqp_messages_retried_total", message=REGISTERED, queue=svc.queue,
                  reason="Retry") == retried + 2  # fmt: skip
    assert await svc.depth(svc.dlq) == 0


async def test_the_delivery_lag_is_timed_from_the_outbox_header_on_first_deliveries_only(
    svc,
) -> None:
    """`outbox-committed-at` (µs, the relay's) -> handler start, once per message: not on its
    retry (the tier's delay is not delivery), not without the header, not for a malformed one.
    """
    import time  # noqa: PLC0415

    record = recorder(svc)

    async def flaky(tx: Transaction, delivery: Delivery) -> None:
        if delivery.attempt < 2 and delivery.payload["email"] == "late@example.com":
            raise Retry("mail API answered 503")
        await record(tx, delivery)

    consumer = make(svc)
    both(consumer, flaky)
    name = "svcinfra_amqp_delivery_lag_seconds"
    count, total = sample(f"{name}_count", queue=svc.queue), sample(f"{name}_sum", queue=svc.queue)
    committed = round((time.time() - 5.0) * 1e6)  # five seconds ago
    async with running(consumer):
        ids = [
            await svc.publish_json(
                msgkit.registered(email="late@example.com"),
                headers={"outbox-committed-at": committed},
            ),
            await svc.publish_json(msgkit.registered()),
            await svc.publish_json(msgkit.registered(), headers={"outbox-committed-at": "soon"}),
        ]
        await msgkit.until(lambda: _all_effects(svc, ids))

    assert sample(f"{name}_count", queue=svc.queue) == count + 1
    assert sample(f"{name}_sum", queue=svc.queue) - total >= 5.0


async def _all_effects(svc: msgkit.Service, ids: list[str]) -> bool:
    return set(await svc.effects()) >= set(ids)


async def test_a_publishers_forged_x_death_does_not_count_as_retries(svc) -> None:
    """x-death is a cross-check on messages back from a wait queue only: a million deaths a
    publisher wrote on a message to the source exchange skip no retry tier (MQ-9)."""
    attempts: list[int] = []
    record = recorder(svc)

    async def flaky(tx: Transaction, delivery: Delivery) -> None:
        attempts.append(delivery.attempt)
        if delivery.attempt < 3:
            raise Retry("mail API answered 503")
        await record(tx, delivery)

    consumer = make(svc)
    both(consumer, flaky)
    forged = [{"queue": f"{svc.queue}.retry.1s", "reason": "expired", "count": 1_000_000}]
    async with running(consumer):
        mid = await svc.publish_json(msgkit.registered(), headers={"x-death": forged})
        await msgkit.until(svc.effects)

    assert attempts == [1, 2, 3]
    assert await svc.effects() == {mid: 1}
    assert await svc.depth(svc.dlq) == 0


async def test_exhausted_attempts_go_to_the_dlq_with_the_reason_and_no_personal_data(svc) -> None:
    """A handler failing every time ends in the DLQ after 3 attempts, with reason headers."""
    record = recorder(svc)

    async def broken(tx: Transaction, delivery: Delivery) -> None:
        await record(tx, delivery)  # rolled back with the failure
        raise ConnectionError("mail API down while mailing ada@example.com")

    consumer = make(svc)
    both(consumer, broken)
    async with running(consumer):
        mid = await svc.publish_json(msgkit.registered(), headers={"tenant": "acme"})
        await msgkit.until(lambda: svc.depth(svc.dlq))

    (dead,) = await svc.take(svc.dlq)
    headers = dead.headers
    assert dead.message_id == mid
    assert dead.type == REGISTERED
    assert json.loads(dead.body)["email"] == "ada@example.com"  # the body is kept as it was
    assert headers["error-class"] == "transient"
    assert headers["error-type"] == "attempts-exhausted"
    assert "ConnectionError" in str(headers["error-message"])
    assert "ada@example.com" not in str(headers["error-message"])
    assert (headers["attempts"], headers["retry-count"]) == (3, 2)
    assert headers["original-exchange"] == svc.exchange
    assert headers["original-routing-key"] == REGISTERED
    assert headers["consumer"] == f"{svc.prefix}-consumer"
    assert headers["tenant"] == "acme"
    assert datetime.fromisoformat(str(headers["failed-at"])).tzinfo is not None
    # No x-* header of ours; a quorum DLQ adds its own delivery counter when the message is read.
    assert not any(str(name).startswith("x-") for name in headers if name != "x-delivery-count")
    assert await svc.effects() == {}


async def test_a_permanent_failure_goes_to_the_dlq_at_once_and_rolls_back(svc) -> None:
    """Reject sends the message to the DLQ on its first attempt; its effects are rolled back."""
    record = recorder(svc)

    async def refuse(tx: Transaction, delivery: Delivery) -> None:
        await record(tx, delivery)
        raise Reject("the user is blocked")

    consumer = make(svc)
    both(consumer, refuse)
    async with running(consumer):
        await svc.publish_json(msgkit.registered())
        await msgkit.until(lambda: svc.depth(svc.dlq))

    (dead,) = await svc.take(svc.dlq)
    assert (dead.headers["error-class"], dead.headers["error-type"]) == ("permanent", "Reject")
    assert (dead.headers["error-message"], dead.headers["attempts"]) == ("the user is blocked", 1)
    assert await svc.effects() == {}


# A message without message_id cannot be sent from here (aiormq invents one); `decode` is
# unit-tested for it.
INVALID = [
    ("invalid-json", {"body": b'{"user_id": '}),
    ("schema-violation", {"body": json.dumps(msgkit.registered(email="not-an-address")).encode()}),
    ("unknown-type", {"message_type": "order.created.v1"}),
    ("unknown-type", {"message_type": None}),
    ("unknown-version", {"message_type": "user.registered.v2"}),
    ("unknown-version", {"headers": {"message-version": 2}}),
    ("wrong-content-type", {"content_type": "text/plain"}),
    ("oversized", {"body": json.dumps(msgkit.registered(pad="x" * 5000)).encode()}),
]


@pytest.mark.parametrize(
    ("error_type", "change"),
    INVALID,
    ids=["json", "schema", "type", "no-type", "version", "version-header", "content-type",
         "oversized"],
)  # fmt: skip
async def test_an_invalid_message_goes_to_the_dlq_at_once(
    svc, error_type: str, change: dict[str, Any]
) -> None:
    """A message the contract does not allow is dead-lettered unhandled, once (MQ-9, MQ-10)."""
    called: list[Delivery] = []
    consumer = make(svc, max_body_bytes=4096)
    both(consumer, recorder(svc, called))
    body = change.pop("body", json.dumps(msgkit.registered()).encode())
    label = REGISTERED if change.get("message_type", REGISTERED) == REGISTERED else "<unknown>"
    dead_lettered = sample("svcinfra_amqp_messages_dead_lettered_total", message=label,
                           queue=svc.queue, reason=error_type)  # fmt: skip
    async with running(consumer):
        await svc.publish_raw(body, **change)
        await msgkit.until(lambda: svc.depth(svc.dlq))

    (dead,) = await svc.take(svc.dlq)
    assert dead.headers["error-type"] == error_type
    assert (dead.headers["error-class"], dead.headers["attempts"]) == ("permanent", 1)
    assert "not-an-address" not in str(dead.headers["error-message"])
    assert called == []
    if error_type == "schema-violation":
        assert "$.email" in str(dead.headers["error-message"])
    assert sample("svcinfra_amqp_messages_dead_lettered_total", message=label,
                  queue=svc.queue, reason=error_type) == dead_lettered + 1  # fmt: skip


async def test_a_handler_past_its_timeout_is_retried(svc) -> None:
    """A handler that overruns `handler_timeout` is cancelled, rolled back and retried."""
    record = recorder(svc)

    async def slow_first(tx: Transaction, delivery: Delivery) -> None:
        await record(tx, delivery)
        if delivery.attempt == 1:
            await asyncio.sleep(60)

    consumer = make(svc, handler_timeout=0.3)
    both(consumer, slow_first)
    async with running(consumer):
        mid = await svc.publish_json(msgkit.registered())
        await msgkit.until(svc.effects)

    assert await svc.effects() == {mid: 1}


async def test_external_mode_runs_outside_a_transaction_once_and_records_the_result(
    svc, postgres_db
) -> None:
    """The external handler sees no open transaction, runs once per id; result and record kept."""
    in_tx = msgkit.effects_queries().query("effects__in_transaction")
    add = msgkit.effects_queries().query("effects__add")
    calls: list[tuple[str, int]] = []

    async def call_api(delivery: Delivery) -> dict[str, object]:
        calls.append((delivery.idempotency_key, await svc.db.one(in_tx, row=int)))
        return {"mail_id": f"m-{delivery.idempotency_key}"}

    async def record(tx: Transaction, delivery: Delivery, result: object) -> None:
        await tx.exec(add, delivery.consumer, delivery.message_id, delivery.name,
                      delivery.attempt, json.dumps(result))  # fmt: skip

    consumer = make(svc)
    consumer.on(REGISTERED, recorder(svc))
    consumer.on_external(DELETED, call_api, record=record)
    labels = {"message": DELETED, "queue": svc.queue, "outcome": "duplicate"}
    duplicates = sample("svcinfra_amqp_messages_acked_total", **labels)
    mid = str(uuid.uuid4())
    async with running(consumer):
        await svc.publish_json(msgkit.deleted(), routing_key=DELETED, message_type=DELETED,
                               message_id=mid)  # fmt: skip
        await msgkit.until(svc.effects)
        await svc.publish_json(msgkit.deleted(), routing_key=DELETED, message_type=DELETED,
                               message_id=mid)  # fmt: skip
        await msgkit.until(
            lambda: sample("svcinfra_amqp_messages_acked_total", **labels) > duplicates
        )

    key = f"{svc.prefix}-consumer:{mid}"
    assert calls == [(key, 0)]
    assert await svc.effects() == {mid: 1}
    con = await asyncpg.connect(postgres_db.dsn)
    try:
        stored = await con.fetchval(
            "SELECT result::text FROM svcinfra_inbox WHERE message_id = $1", mid
        )
    finally:
        await con.close()
    assert json.loads(stored) == {"mail_id": f"m-{key}"}


async def test_stop_finishes_in_flight_messages_within_the_drain_timeout(svc) -> None:
    """Stop waits for a handler in flight, which commits and acks; nothing stays queued."""
    entered, release = asyncio.Event(), asyncio.Event()
    record = recorder(svc)

    async def held(tx: Transaction, delivery: Delivery) -> None:
        entered.set()
        await release.wait()
        await record(tx, delivery)

    consumer = make(svc, drain_timeout=30)
    both(consumer, held)
    task = asyncio.create_task(consumer.run())
    await msgkit.until(consumer.ready)
    mid = await svc.publish_json(msgkit.registered())
    await entered.wait()
    consumer.stop()
    assert not await consumer.ready()
    release.set()
    await task

    assert await svc.effects() == {mid: 1}
    assert await svc.depth(svc.queue) == 0


async def test_stop_fetches_nothing_more_and_acks_what_it_holds(svc) -> None:
    """Issue 17 (rollouts): after `stop` a message published is left to the other replicas.

    The held message is finished and acked; the one published after `stop` stays in the queue
    (never delivered, or returned unapplied if the broker had already sent it), unapplied.
    """
    entered, release = asyncio.Event(), asyncio.Event()
    record = recorder(svc)

    async def held(tx: Transaction, delivery: Delivery) -> None:
        entered.set()
        await release.wait()
        await record(tx, delivery)

    consumer = make(svc, drain_timeout=30)
    both(consumer, held)
    task = asyncio.create_task(consumer.run())
    await msgkit.until(consumer.ready)
    first = await svc.publish_json(msgkit.registered())
    await entered.wait()
    consumer.stop()
    await svc.publish_json(msgkit.registered())
    await asyncio.sleep(0.2)  # time for the broker to deliver it, were the consumer still on
    release.set()
    await task

    assert await svc.effects() == {first: 1}
    await msgkit.until(lambda: _depth_is(svc, 1))


async def _depth_is(svc, expected: int) -> bool:
    return await svc.depth(svc.queue) == expected


async def test_stop_returns_messages_that_outlast_the_drain_timeout(svc) -> None:
    """A handler still busy at the drain timeout is cancelled; its message goes back, unapplied."""
    entered = asyncio.Event()

    async def stuck(tx: Transaction, delivery: Delivery) -> None:  # noqa: ARG001
        entered.set()
        await asyncio.sleep(3600)

    consumer = make(svc, drain_timeout=0.2)
    both(consumer, stuck)
    task = asyncio.create_task(consumer.run())
    await msgkit.until(consumer.ready)
    mid = await svc.publish_json(msgkit.registered())
    await entered.wait()
    consumer.stop()
    await task

    await msgkit.until(lambda: svc.depth(svc.queue))
    assert await svc.effects() == {}
    again = make(svc)
    both(again, recorder(svc))
    async with running(again):
        await msgkit.until(svc.effects)
    assert await svc.effects() == {mid: 1}


async def test_prefetch_bounds_the_messages_in_flight(svc) -> None:
    """With prefetch 2 and handlers held, the broker hands out 2 messages and keeps 4 (MQ-7)."""
    release = asyncio.Event()
    inside: list[str] = []
    record = recorder(svc)

    async def held(tx: Transaction, delivery: Delivery) -> None:
        inside.append(delivery.message_id)
        await release.wait()
        await record(tx, delivery)

    consumer = make(svc, prefetch={svc.queue: 2})
    both(consumer, held)
    async with running(consumer):
        for _ in range(6):
            await svc.publish_json(msgkit.registered())
        await msgkit.until(lambda: len(inside) == 2)
        await msgkit.until(lambda: _equals(svc.depth(svc.queue), 4))
        assert len(inside) == 2
        assert sample("svcinfra_amqp_messages_in_flight", queue=svc.queue) == 2
        release.set()
        await msgkit.until(lambda: _equals(_count(svc.effects()), 6))


async def test_out_of_order_successes_and_retries_are_each_acked_once(svc) -> None:
    """Batched acks (`Acks`): handlers ending out of order, a fifth of them retried first, at
    prefetch 50: one effect each, every message acked once (none back in the queue after stop),
    and no channel error from an ack of a tag already settled (one connection throughout)."""
    record = recorder(svc)

    async def jittery(tx: Transaction, delivery: Delivery) -> None:
        await asyncio.sleep(random.uniform(0, 0.02))  # noqa: S311  (test jitter)
        if delivery.attempt == 1 and int(delivery.message_id[-1], 16) % 5 == 0:
            raise Retry("first attempt of every fifth message")
        await record(tx, delivery)

    consumer = make(svc, prefetch=50)
    both(consumer, jittery)
    ids = [str(uuid.uuid4()) for _ in range(150)]
    with capture_logs() as logs:
        async with running(consumer):
            for mid in ids:
                await svc.publish_json(msgkit.registered(), message_id=mid)
            await msgkit.until(lambda: _at_least(svc.effects(), len(ids)))
    assert await svc.effects() == dict.fromkeys(ids, 1)
    assert await svc.depth(svc.queue) == 0  # an unacked message would be back after the stop
    assert len(logs.find("amqp consumer started")) == 1
    failed = [
        e for e in logs.entries if "connection failed" in e["event"] or "not sent" in e["event"]
    ]
    assert not failed


async def _equals(value: Any, expected: int) -> bool:
    return await value == expected


async def _count(effects: Any) -> int:
    return len(await effects)


async def test_broker_closed_connections_during_consuming_lose_nothing(svc) -> None:
    """Broker-closed connection mid-stream: the consumer reconnects; 200 ids, one effect each."""
    record = recorder(svc)

    async def slowish(tx: Transaction, delivery: Delivery) -> None:
        await asyncio.sleep(0.005)
        await record(tx, delivery)

    consumer = make(svc, prefetch=20, reconnect_delay=0.2)
    both(consumer, slowish)
    ids = [str(uuid.uuid4()) for _ in range(200)]
    async with running(consumer):
        for mid in ids:
            await svc.publish_json(msgkit.registered(), message_id=mid)
        await msgkit.until(lambda: _at_least(svc.effects(), 20))
        closed = await asyncio.to_thread(msgkit.close_connections_named, consumer.name)
        await msgkit.until(lambda: _at_least(svc.effects(), 200))

    assert closed == 1
    assert await svc.effects() == dict.fromkeys(ids, 1)


async def _at_least(effects: Any, count: int) -> bool:
    return len(await effects) >= count


async def test_queue_depths_and_consumers_are_sampled(svc) -> None:
    """The work queue's consumer count and the DLQ's depth are sampled by passive declare."""
    await svc.publish_json(msgkit.registered(), message_type="order.created.v1")
    consumer = make(svc, sample_interval=0.05)
    both(consumer, recorder(svc))
    async with running(consumer):
        await msgkit.until(lambda: sample("svcinfra_amqp_queue_messages", queue=svc.dlq) == 1)
        await msgkit.until(lambda: sample("svcinfra_amqp_queue_consumers", queue=svc.queue) == 1)
    assert sample("svcinfra_amqp_queue_messages", queue=f"{svc.queue}.retry.100ms") == 0


async def test_every_consumed_message_needs_a_handler(svc) -> None:
    """A consumed message without a handler, or a handler for a foreign one, fails at start."""
    consumer = make(svc)
    consumer.on(REGISTERED, recorder(svc))
    with pytest.raises(MessagingError, match=r"no handler for \['user.deleted.v1'\]"):
        await consumer.run()
    with pytest.raises(MessagingError, match="not consumed"):
        consumer.on("user.email-changed.v1", recorder(svc))
    with pytest.raises(MessagingError, match="already"):
        consumer.on(REGISTERED, recorder(svc))
    assert not await consumer.ready()
