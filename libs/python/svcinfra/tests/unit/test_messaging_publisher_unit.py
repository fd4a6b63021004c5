"""What the publisher refuses before it sends anything, and its backoff (MQ-2, MQ-4); no sockets."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from svcinfra.messaging import (
    InvalidMessageError,
    MessageNackedError,
    MessageReturnedError,
    MessagingError,
    PayloadValidationError,
    PublishDeadlineError,
    Publisher,
    UnknownMessageError,
    load_contract,
)
from svcinfra.messaging.publisher import Backoff

GOOD = Path(__file__).parents[1] / "assets" / "asyncapi" / "good"
# Nothing listens on port 1: a test that reached the network would fail loudly, not hang.
NOWHERE = "amqp://guest:guest@127.0.0.1:1/"
PAYLOAD = {
    "user_id": "3b241101-e2bb-4255-8caf-4136c566a962",
    "email": "ada@example.com",
    "registered_at": "2026-11-26T08:00:00Z",
}


@pytest.fixture(name="publisher")
def _publisher() -> Publisher:
    return Publisher(load_contract(GOOD / "users.yaml"), url=NOWHERE, deadline=1.0)


def _failures(message: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "svcinfra_amqp_publish_failures_total", {"message": message, "reason": reason}
    )
    return value or 0.0


async def test_an_unknown_message_name_is_refused(publisher: Publisher) -> None:
    """A name the contract does not send is an error listing what it does send (MQ-1)."""
    with pytest.raises(UnknownMessageError, match=r"sends: user\.deleted\.v1, user\.email"):
        await publisher.publish("user.created.v1", PAYLOAD)

    assert not publisher.connected


async def test_an_invalid_payload_names_the_message_and_the_field(publisher: Publisher) -> None:
    """A schema violation raises before sending, naming the message and each bad field (MQ-2)."""
    before = _failures("user.registered.v1", "invalid")

    with pytest.raises(PayloadValidationError) as caught:
        await publisher.publish("user.registered.v1", PAYLOAD | {"email": "nope", "user_id": 7})

    error = caught.value
    assert error.message_name == "user.registered.v1"
    assert [p.path for p in error.problems] == ["$.email", "$.user_id"]
    assert str(error).startswith("user.registered.v1: payload violates the contract's schema")
    assert error.attempts == 0
    assert not publisher.connected
    assert _failures("user.registered.v1", "invalid") == before + 1


@pytest.mark.parametrize(
    "header",
    ["message-version", "retry-count", "traceparent", "outbox-committed-at", "x-death", "x-custom"],
    ids=["version", "retry-count", "trace", "outbox-committed-at", "x-death", "x-prefix"],
)
async def test_reserved_headers_are_refused(publisher: Publisher, header: str) -> None:
    """A caller cannot set svcinfra's own headers or broker-owned `x-*` ones."""
    with pytest.raises(InvalidMessageError, match="reserved"):
        await publisher.publish("user.registered.v1", PAYLOAD, headers={header: "1"})


async def test_a_payload_that_is_not_json_is_refused(publisher: Publisher) -> None:
    """A value the schema leaves open but JSON cannot encode is refused, not sent."""
    with pytest.raises(InvalidMessageError, match="not JSON"):
        await publisher.publish("user.registered.v1", PAYLOAD | {"extra": object()})


async def test_a_closed_publisher_refuses_to_publish(publisher: Publisher) -> None:
    """After close, publishing is a usage error rather than a silent reconnect."""
    await publisher.close()

    with pytest.raises(MessagingError, match="closed"):
        await publisher.publish("user.registered.v1", PAYLOAD)


@pytest.mark.parametrize("retry", [1, 2, 3, 8, 30], ids=lambda n: f"retry-{n}")
def test_backoff_is_jittered_below_an_exponential_cap(retry: int) -> None:
    """Each wait is within [0, min(maximum, initial * 2**(n-1))] (full jitter, EX-3/MQ-4)."""
    backoff = Backoff(initial=0.1, maximum=1.0)
    rng = random.Random(retry)  # noqa: S311  (jitter in a test, not cryptography)
    cap = min(1.0, 0.1 * 2 ** (retry - 1))

    delays = [backoff.delay(retry, rng) for _ in range(200)]

    assert all(0 <= d <= cap for d in delays)
    assert max(delays) > cap / 2  # jittered across the range, not a constant


@pytest.mark.parametrize(
    ("error", "temporary"),
    [
        (PublishDeadlineError("x", message_name="m.v1", message_id="id", exchange="e",
                              routing_key="m.v1", attempts=3), True),
        (MessageNackedError("x", message_name="m.v1", message_id="id", exchange="e",
                            routing_key="m.v1", attempts=1), True),
        (MessageReturnedError("x", message_name="m.v1", message_id="id", exchange="e",
                              routing_key="m.v1", attempts=1), False),
    ],
    ids=["deadline", "nacked", "returned"],
)  # fmt: skip
def test_errors_say_whether_a_later_publish_may_succeed(error, *, temporary: bool) -> None:
    """Deadline and nack are temporary (an outbox retries them later); a return is not."""
    assert error.temporary is temporary
    assert "message_id id" in str(error)
    assert "'e' with routing key 'm.v1'" in str(error)


def test_timeouts_must_be_positive() -> None:
    """A zero deadline or timeout is a programming error, refused at construction."""
    with pytest.raises(ValueError, match="positive"):
        Publisher(load_contract(GOOD / "users.yaml"), url=NOWHERE, deadline=0)


async def test_a_tracer_provider_set_later_is_picked_up(
    publisher: Publisher, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a provider the check is cached briefly; a provider set later is used for good."""
    from opentelemetry import trace  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415

    from svcinfra.messaging.publisher import _publisher  # noqa: PLC0415

    asked: list[int] = []
    provider: trace.TracerProvider = trace.ProxyTracerProvider()

    def current() -> trace.TracerProvider:
        asked.append(1)
        return provider

    monkeypatch.setattr(trace, "get_tracer_provider", current)
    monkeypatch.setattr(_publisher, "_TRACING_RECHECK", 0.05)
    loop = asyncio.get_running_loop()
    assert not publisher._tracing(loop.time())
    assert not publisher._tracing(loop.time())
    assert len(asked) == 1  # the second answer came from the cache
    provider = TracerProvider()
    await asyncio.sleep(0.06)
    assert publisher._tracing(loop.time())
    assert publisher._tracing(loop.time())
    assert len(asked) == 2  # a real provider stays: not asked again
