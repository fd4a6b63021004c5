"""Confirmed publishing on the real broker: what a message carries, each failure (MQ-4..6, 11)."""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import aio_pika
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import (
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    format_trace_id,
)
from prometheus_client import REGISTRY

from svcinfra.messaging import (
    BrokerUnavailableError,
    ExchangeNotFoundError,
    MessageNackedError,
    MessageReturnedError,
    PayloadValidationError,
    PublishDeadlineError,
    Publisher,
    PublishFailedError,
    declare_topology,
)
from svcinfra.messaging.contract import Contract, contract_from_document, read_document
from svcinfra.messaging.publisher import Backoff
from svcinfra.messaging.topology import Topology
from svcinfra.testing import FaultProxy, capture_logs

if TYPE_CHECKING:
    import random
    from collections.abc import AsyncIterator, Callable

pytestmark = pytest.mark.rabbitmq

GOOD = Path(__file__).parents[1] / "assets" / "asyncapi" / "good"
EVENT = "user.registered.v1"
FAST = Backoff(initial=0.02, maximum=0.2)


def payload(**change: object) -> dict[str, object]:
    """A valid `user.registered.v1` payload."""
    return {
        "user_id": str(uuid.uuid4()),
        "email": "ada@example.com",
        "registered_at": "2026-11-26T08:00:00Z",
    } | change


def prefixed(name: str, prefix: str) -> Contract:
    """The fixture contract with every exchange and queue name under this test's prefix."""
    text = (GOOD / name).read_text(encoding="utf-8")
    text = text.replace("users.events", f"{prefix}.users.events")
    text = text.replace("notifications.user-events", f"{prefix}.notifications.user-events")
    return contract_from_document(read_document(text), source=name)


RETRIES = "svcinfra_amqp_publish_retries_total"
CONFIRMED = "svcinfra_amqp_messages_confirmed_total"


async def until(condition: Callable[[], bool]) -> None:
    """Wait until `condition` holds (a metric reached a value); the test timeout bounds it."""
    while not condition():  # noqa: ASYNC110  (metrics have no event to wait on)
        await asyncio.sleep(0.002)


def sample(name: str, **labels: str) -> float:
    """The current value of a metric sample (0 when it was never touched)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


class Broker:
    """The test's topology on the real broker: users' exchange bound to notifications' queues."""

    def __init__(self, connection: aio_pika.abc.AbstractConnection, prefix: str) -> None:
        self.connection = connection
        self.prefix = prefix
        self.users = prefixed("users.yaml", prefix)
        self.topology = Topology.from_contract(prefixed("notifications.yaml", prefix))
        self.exchange = f"{prefix}.users.events"
        self.queue = f"{prefix}.notifications.user-events"

    async def drain(self) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Every message now in the work queue, acked."""
        channel = await self.connection.channel()
        queue = await channel.declare_queue(self.queue, passive=True)
        messages = []
        while (message := await queue.get(fail=False)) is not None:
            await message.ack()
            messages.append(message)
        await channel.close()
        return messages


@pytest.fixture(name="broker")
async def _broker(amqp_server: str, amqp_names: str) -> AsyncIterator[Broker]:
    connection = await aio_pika.connect(amqp_server)
    async with connection:
        broker = Broker(connection, amqp_names)
        await declare_topology(connection, Topology.from_contract(broker.users))
        await declare_topology(connection, broker.topology)
        yield broker
        channel = await connection.channel()
        for queue in broker.topology.queues:
            await channel.queue_delete(queue.name)
        await channel.exchange_delete(broker.exchange)


@pytest.fixture(name="spans")
def _spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    """A private tracer provider recording finished spans (no global state)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


@pytest.fixture(name="proxy")
async def _proxy() -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", 5672) as proxy:
        yield proxy


def via(proxy: FaultProxy) -> str:
    return f"amqp://guest:guest@127.0.0.1:{proxy.port}/?heartbeat=0"


async def test_a_confirmed_message_carries_id_type_version_and_trace(
    broker: Broker, amqp_server: str, spans
) -> None:
    """The delivered message has a uuid id, type, version header, JSON body, persistence, trace."""
    provider, exporter = spans
    body = payload()
    with capture_logs(level="DEBUG") as logs:
        async with Publisher(
            broker.users, url=amqp_server, name=f"{broker.prefix}-pub", tracer_provider=provider
        ) as publisher:
            receipt = await publisher.publish(
                EVENT, body, correlation_id="req-42", headers={"tenant": "acme"}
            )

    (message,) = await broker.drain()
    assert message.message_id == receipt.message_id
    assert uuid.UUID(receipt.message_id).version == 4
    assert (message.type, message.correlation_id) == (EVENT, "req-42")
    assert message.content_type == "application/json"
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.app_id == f"{broker.prefix}-pub"
    assert message.timestamp is not None
    assert json.loads(message.body) == body
    assert message.headers["message-version"] == 1
    assert message.headers["tenant"] == "acme"
    (span,) = exporter.get_finished_spans()
    assert span.kind == SpanKind.PRODUCER
    assert span.name == f"publish {broker.exchange}"
    assert span.attributes is not None
    assert span.attributes["messaging.message.id"] == receipt.message_id
    assert span.attributes["messaging.message.conversation_id"] == "req-42"
    assert span.attributes["messaging.rabbitmq.destination.routing_key"] == EVENT
    assert format_trace_id(span.context.trace_id) in str(message.headers["traceparent"])
    assert (receipt.exchange, receipt.routing_key, receipt.attempts) == (broker.exchange, EVENT, 1)
    (line,) = logs.find("amqp message published")
    assert (line["message_id"], line["correlation_id"]) == (receipt.message_id, "req-42")
    assert (line["routing_key"], line["level"]) == (EVENT, "debug")
    assert line["trace_id"] == format_trace_id(span.context.trace_id)


async def test_the_callers_trace_is_propagated_without_a_configured_tracer(
    broker: Broker, amqp_server: str
) -> None:
    """With no tracer of its own, a publish still carries the caller's trace id (MQ-11)."""
    parent = SpanContext(
        trace_id=0x0AF7651916CD43DD8448EB211C80319C,
        span_id=0xB7AD6B7169203331,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    async with Publisher(broker.users, url=amqp_server) as publisher:
        with trace.use_span(NonRecordingSpan(parent)):
            await publisher.publish(EVENT, payload())

    (message,) = await broker.drain()
    assert "0af7651916cd43dd8448eb211c80319c" in str(message.headers["traceparent"])


async def test_an_invalid_payload_publishes_nothing(broker: Broker, amqp_server: str) -> None:
    """A schema violation raises naming message and field, and the queue stays empty (MQ-2)."""
    async with Publisher(broker.users, url=amqp_server) as publisher:
        with pytest.raises(PayloadValidationError, match=r"user\.registered\.v1: .*\$\.email"):
            await publisher.publish(EVENT, payload(email="not-an-address"))

    assert await broker.drain() == []


async def test_an_unroutable_message_is_an_error_and_counted(
    broker: Broker, amqp_server: str
) -> None:
    """With no queue bound for its routing key, the return is raised, logged and counted."""
    labels = {"message": "user.deleted.v1", "exchange": broker.exchange}
    before = sample("svcinfra_amqp_messages_returned_total", **labels)
    with capture_logs() as logs:
        async with Publisher(broker.users, url=amqp_server) as publisher:
            with pytest.raises(MessageReturnedError, match="NO_ROUTE") as caught:
                await publisher.publish(
                    "user.deleted.v1",
                    {"user_id": str(uuid.uuid4()), "deleted_at": "2026-11-26T08:00:00Z"},
                    correlation_id="c-7",
                )
            await publisher.publish(EVENT, payload())  # the publisher is still usable

    assert sample("svcinfra_amqp_messages_returned_total", **labels) == before + 1
    (line,) = logs.find("amqp publish failed")
    assert line["level"] == "error"
    assert line["message_id"] == caught.value.message_id
    assert (line["correlation_id"], line["routing_key"]) == ("c-7", "user.deleted.v1")
    assert len(await broker.drain()) == 1


async def test_an_event_published_without_mandatory_may_have_no_subscriber(
    broker: Broker, amqp_server: str
) -> None:
    """`mandatory: false` in the contract: no queue bound, the broker confirms and drops it."""
    text = (GOOD / "users.yaml").read_text(encoding="utf-8")
    deleted = "messages: [{$ref: '#/channels/userDeletedV1/messages/userDeletedV1'}]\n"
    head, tail = text.split(deleted)
    text = head + deleted + tail.replace("mandatory: true", "mandatory: false", 1)
    text = text.replace("users.events", f"{broker.prefix}.users.events")
    contract = contract_from_document(read_document(text), source="users.yaml")
    assert contract.publications["user.deleted.v1"].mandatory is False
    assert contract.publications["user.registered.v1"].mandatory is True
    labels = {"message": "user.deleted.v1", "exchange": broker.exchange}
    returned = sample("svcinfra_amqp_messages_returned_total", **labels)
    confirmed = sample(CONFIRMED, **labels)
    with capture_logs() as logs:
        async with Publisher(contract, url=amqp_server) as publisher:
            await publisher.publish(
                "user.deleted.v1",
                {"user_id": str(uuid.uuid4()), "deleted_at": "2026-11-26T08:00:00Z"},
            )
    assert sample(CONFIRMED, **labels) == confirmed + 1
    assert sample("svcinfra_amqp_messages_returned_total", **labels) == returned
    assert logs.find("amqp publish failed") == []
    assert await broker.drain() == []  # nothing bound for it, so nothing arrived anywhere


async def test_a_missing_exchange_is_an_error_not_a_retry_loop(
    amqp_server: str, amqp_names: str
) -> None:
    """Publishing to an exchange nobody declared fails at once, naming the fix."""
    contract = prefixed("users.yaml", f"{amqp_names}.undeclared")
    async with Publisher(contract, url=amqp_server, deadline=5) as publisher:
        with pytest.raises(ExchangeNotFoundError, match="declare the topology") as caught:
            await publisher.publish(EVENT, payload())

    assert caught.value.attempts == 1


async def test_a_nack_is_an_error(amqp_server: str, amqp_names: str) -> None:
    """A full queue with reject-publish makes the broker nack: raised as MessageNackedError."""
    contract = prefixed("users.yaml", amqp_names)
    connection = await aio_pika.connect(amqp_server)
    async with connection:
        await declare_topology(connection, Topology.from_contract(contract))
        channel = await connection.channel()
        full = await channel.declare_queue(
            f"{amqp_names}.full", arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
        )
        await full.bind(f"{amqp_names}.users.events", EVENT)
        try:
            async with Publisher(contract, url=amqp_server) as publisher:
                with pytest.raises(MessageNackedError) as caught:
                    await publisher.publish(EVENT, payload())
            assert caught.value.temporary
        finally:
            await channel.queue_delete(full.name)
            await channel.exchange_delete(f"{amqp_names}.users.events")


async def test_published_and_confirmed_are_counted(broker: Broker, amqp_server: str) -> None:
    """Each confirmed message counts once as published and once as confirmed (MQ-11)."""
    labels = {"message": EVENT, "exchange": broker.exchange}
    published = sample("svcinfra_amqp_messages_published_total", **labels)
    confirmed = sample(CONFIRMED, **labels)

    async with Publisher(broker.users, url=amqp_server) as publisher:
        await asyncio.gather(*(publisher.publish(EVENT, payload()) for _ in range(20)))

    assert sample("svcinfra_amqp_messages_published_total", **labels) == published + 20
    assert sample(CONFIRMED, **labels) == confirmed + 20
    assert len(await broker.drain()) == 20


async def test_a_refused_connection_fails_start_and_publish_after_the_deadline(
    broker: Broker, proxy: FaultProxy
) -> None:
    """With connections refused, start fails fast and publish gives up at its deadline."""
    await proxy.refuse()
    before = sample(
        "svcinfra_amqp_publish_retries_total", message=EVENT, reason="connection_refused"
    )
    publisher = Publisher(
        broker.users, url=via(proxy), connect_timeout=0.5, deadline=1.0, backoff=FAST
    )

    with pytest.raises(BrokerUnavailableError, match="cannot connect"):
        await publisher.start()
    with pytest.raises(PublishDeadlineError, match="connection_refused") as caught:
        await publisher.publish(EVENT, payload())

    assert caught.value.attempts > 1
    assert caught.value.temporary
    after = sample(
        "svcinfra_amqp_publish_retries_total", message=EVENT, reason="connection_refused"
    )
    assert after == before + caught.value.attempts - 1
    await publisher.close()
    assert await broker.drain() == []


class _LoopBlockedInThePause(Backoff):
    """A first pause the loop wakes from late: something blocked it for `blocked` seconds."""

    blocked: float = 1.2

    def delay(self, retry: int, rng: random.Random) -> float:  # noqa: ARG002  (Backoff's)
        if retry == 1:
            asyncio.get_running_loop().call_soon(time.sleep, self.blocked)
        return 0.01


async def test_a_pause_that_overruns_the_deadline_blames_the_last_real_failure(
    broker: Broker, proxy: FaultProxy
) -> None:
    """A busy loop that wakes a retry's pause past the deadline ends the publish there, blaming
    the refused connection it saw, not a "no time left" of an attempt that never ran."""
    await proxy.refuse()
    retries = sample(
        "svcinfra_amqp_publish_retries_total", message=EVENT, reason="connection_refused"
    )
    publisher = Publisher(
        broker.users,
        url=via(proxy),
        connect_timeout=0.5,
        deadline=1.0,
        backoff=_LoopBlockedInThePause(),
    )

    with pytest.raises(PublishDeadlineError, match="last failure: connection_refused") as caught:
        await publisher.publish(EVENT, payload())

    assert caught.value.attempts == 1
    assert caught.value.temporary
    after = sample(
        "svcinfra_amqp_publish_retries_total", message=EVENT, reason="connection_refused"
    )
    assert after == retries  # the retry the pause was for never ran
    await publisher.close()
    assert await broker.drain() == []


async def test_refused_credentials_fail_at_once(broker: Broker) -> None:
    """A wrong password is no transient failure: start and publish fail at once, password unsaid."""
    publisher = Publisher(
        broker.users, url="amqp://guest:not-the-password@127.0.0.1:5672/", deadline=30
    )

    with pytest.raises(BrokerUnavailableError, match="ACCESS_REFUSED") as started:
        await publisher.start()
    with pytest.raises(PublishFailedError, match="refused the connection") as published:
        await publisher.publish(EVENT, payload())
    await publisher.close()

    assert published.value.attempts == 1
    assert "not-the-password" not in str(started.value) + str(published.value)


async def test_publish_waits_out_a_refusing_broker_within_the_deadline(
    broker: Broker, proxy: FaultProxy
) -> None:
    """A broker that comes back before the deadline gets the message, once, with its one id."""
    await proxy.refuse()
    publisher = Publisher(broker.users, url=via(proxy), deadline=20, backoff=FAST)
    retries = sample(
        "svcinfra_amqp_publish_retries_total", message=EVENT, reason="connection_refused"
    )
    task = asyncio.create_task(publisher.publish(EVENT, payload()))
    await until(lambda: sample(RETRIES, message=EVENT, reason="connection_refused") >= retries + 2)
    await proxy.accept()

    receipt = await task
    await publisher.close()

    assert receipt.attempts >= 3
    assert [m.message_id for m in await broker.drain()] == [receipt.message_id]


async def test_connections_killed_mid_publish_lose_nothing(
    broker: Broker, proxy: FaultProxy
) -> None:
    """A reset under 200 in-flight publishes: every call confirms and every id arrives."""
    labels = {"message": EVENT, "exchange": broker.exchange}
    confirmed = sample(CONFIRMED, **labels)
    publisher = Publisher(
        broker.users, url=via(proxy), confirm_timeout=2, deadline=30, backoff=FAST
    )
    await publisher.start()
    calls = asyncio.gather(*(publisher.publish(EVENT, payload()) for _ in range(200)))
    await until(lambda: sample(CONFIRMED, **labels) >= confirmed + 20)
    killed = proxy.reset_all()

    receipts = await calls
    await publisher.close()

    assert killed >= 1
    ids = {r.message_id for r in receipts}
    assert len(ids) == 200
    delivered = [m.message_id for m in await broker.drain()]
    assert set(delivered) == ids  # duplicates allowed (same id), losses not
    assert max(r.attempts for r in receipts) >= 2


async def test_a_stalled_broker_is_retried_after_the_confirm_timeout(
    broker: Broker, proxy: FaultProxy
) -> None:
    """A confirm that never comes times out; the retry after the stall confirms the same id."""
    publisher = Publisher(
        broker.users, url=via(proxy), confirm_timeout=0.3, connect_timeout=0.3, deadline=30,
        backoff=FAST,
    )  # fmt: skip
    await publisher.start()
    timeouts = sample(
        "svcinfra_amqp_publish_retries_total", message=EVENT, reason="confirm_timeout"
    )
    proxy.stall()
    task = asyncio.create_task(publisher.publish(EVENT, payload()))
    await until(lambda: sample(RETRIES, message=EVENT, reason="confirm_timeout") > timeouts)
    proxy.unstall()

    receipt = await task
    await publisher.close()

    assert receipt.attempts >= 2
    delivered = {m.message_id for m in await broker.drain()}
    assert delivered == {receipt.message_id}  # one id, even if the stalled copy also arrived


async def test_a_broker_stalled_past_the_deadline_is_a_deadline_error(
    broker: Broker, proxy: FaultProxy
) -> None:
    """A broker that never answers ends in PublishDeadlineError naming the confirm timeout."""
    publisher = Publisher(
        broker.users, url=via(proxy), confirm_timeout=0.3, connect_timeout=0.3, deadline=1.5,
        backoff=FAST,
    )  # fmt: skip
    await publisher.start()
    proxy.stall()

    with capture_logs() as logs, pytest.raises(PublishDeadlineError, match="deadline") as caught:
        await publisher.publish(EVENT, payload(), correlation_id="c-9")
    proxy.unstall()
    await publisher.close()

    retries = logs.find("amqp publish retry")
    assert retries
    assert {line["message_id"] for line in retries} == {caught.value.message_id}
    assert retries[0]["level"] == "warning"


async def test_broker_closed_connections_during_publishing_lose_nothing(
    broker: Broker, amqp_server: str
) -> None:
    """`rabbitmqctl close_connection` on the publisher's connection mid-stream: every id arrives."""
    name = f"{broker.prefix}-closed-by-broker"
    labels = {"message": EVENT, "exchange": broker.exchange}
    confirmed = sample(CONFIRMED, **labels)
    publisher = Publisher(broker.users, url=amqp_server, name=name, deadline=30, backoff=FAST)
    await publisher.start()

    async def stream() -> list[str]:
        ids = []
        for _ in range(10):
            receipts = await asyncio.gather(
                *(publisher.publish(EVENT, payload()) for _ in range(20))
            )
            ids += [r.message_id for r in receipts]
        return ids

    task = asyncio.create_task(stream())
    await until(lambda: sample(CONFIRMED, **labels) >= confirmed + 20)
    closed = await asyncio.to_thread(_close_connections_named, name)
    ids = await task
    await publisher.close()

    assert closed == 1
    assert set(ids) == {m.message_id for m in await broker.drain()}
    assert len(set(ids)) == 200


def _close_connections_named(name: str) -> int:
    """Close, through rabbitmqctl, the broker connections whose client-provided name is `name`."""
    listing = subprocess.run(
        ["rabbitmqctl", "list_connections", "pid", "client_properties", "-q", "--no-table-headers"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    marker = f'{{"connection_name","{name}"}}'
    pids = [line.split("\t", 1)[0] for line in listing.stdout.splitlines() if marker in line]
    for pid in pids:
        subprocess.run(
            ["rabbitmqctl", "close_connection", pid, "svcinfra test: closed by the broker"],
            capture_output=True, check=True, timeout=60,
        )  # fmt: skip
    return len(pids)
