"""Hostile messages on `users.events` (issue #10): each ends in the DLQ with a reason header
naming the cause, without a mail call or a delivery row, and the consumer keeps going.

Against the real broker and database, the service wired as `notifications consume` wires it.
Every case is followed by a valid event, which must still be sent (MQ-2, MQ-6, MQ-9, MQ-10).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import notifkit
import pytest
from aiormq import spec

from svcinfra.httpclient.testing import Reply

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

PROVIDER_ID = "33333333-3333-4333-8333-333333333333"
TEN_MB = 10 * 1024 * 1024
VALID = json.dumps(notifkit.registered()).encode()


class _Empty(str):
    """An empty message_id that aiormq sends as is: its `basic_publish` replaces a falsy one
    with a random id, so an absent message_id cannot be sent with it. The consumer treats an
    empty one as missing (its unit tests cover the absent one)."""

    __slots__ = ()

    def __bool__(self) -> bool:
        return True


NO_ID = _Empty()


def forged_deaths(queue: str) -> list[dict[str, Any]]:
    """An `x-death` a publisher wrote itself: many deaths, on the retry tier and elsewhere."""
    return [
        {"queue": f"{queue}.retry.100ms", "reason": "expired", "count": 1_000_000},
        {"queue": "someone.elses.queue", "reason": "rejected", "count": 7},
    ]


CASES: dict[str, tuple[bytes, dict[str, Any], str]] = {
    # label: (body, properties over the valid ones, the error-type header expected)
    "invalid-json": (b'{"user_id": ', {}, "invalid-json"),
    "invalid-utf8": (b'{"user_id": "\xff\xfe"}', {}, "invalid-json"),
    "deeply-nested-json": (b"[" * 200_000 + b"]" * 200_000, {}, "invalid-json"),
    "json-not-an-object": (b'["user_id"]', {}, "schema-violation"),
    "wrong-content-type": (VALID, {"content_type": "text/plain"}, "wrong-content-type"),
    "no-content-type": (VALID, {"content_type": None}, "wrong-content-type"),
    "gzip-encoding": (VALID, {"content_encoding": "gzip"}, "wrong-content-type"),
    "10MB-body": (b'{"pad": "' + b"a" * TEN_MB + b'"}', {}, "oversized"),
    "unknown-type": (VALID, {"message_type": "user.deleted.v1"}, "unknown-type"),
    "no-type": (VALID, {"message_type": None}, "unknown-type"),
    "unknown-version-header": (VALID, {"headers": {"message-version": 7}}, "unknown-version"),
    "missing-message-id": (VALID, {"message_id": NO_ID}, "missing-message-id"),
    "extra-field": (
        json.dumps(notifkit.registered(admin=True)).encode(),
        {},
        "schema-violation",
    ),
    "bad-uuid": (
        json.dumps(notifkit.registered(user_id="' OR 1=1 --")).encode(),
        {},
        "schema-violation",
    ),
    "bad-email": (
        json.dumps(notifkit.registered(email="not-an-address")).encode(),
        {},
        "schema-violation",
    ),
    "forged-x-death-and-invalid-json": (b"{nope", {"x-death": True}, "invalid-json"),
}


async def publish(svc: Any, body: bytes, **override: Any) -> str | None:
    """Publish to users.events with the valid properties, each overridable (None: absent)."""
    headers: dict[str, Any] = {"message-version": 1}
    if override.pop("x-death", False):
        headers["x-death"] = forged_deaths(svc.broker.queue)
    headers |= override.pop("headers", {})
    props: dict[str, Any] = {
        "message_id": str(uuid.uuid4()),
        "content_type": "application/json",
        "message_type": notifkit.REGISTERED,
        "delivery_mode": 2,
        "headers": headers,
    } | override
    channel = await svc.broker.connection.channel()
    underlay = await channel.get_underlay_channel()
    await underlay.basic_publish(
        body,
        exchange=svc.broker.users_exchange,
        routing_key=notifkit.REGISTERED,
        properties=spec.Basic.Properties(**{k: v for k, v in props.items() if v is not None}),
        mandatory=True,
    )
    await channel.close()
    return props["message_id"]  # type: ignore[no-any-return]


async def the_consumer_keeps_going(svc: Any) -> None:
    """A valid event published after the hostile one is sent, once."""
    svc.mail.script(notifkit.accepted(PROVIDER_ID))
    mid = await svc.broker.publish(notifkit.registered())
    [sent] = await svc.broker.wait_for(svc.broker.sent_queue)
    assert sent.correlation_id == mid
    assert len(svc.mail.requests) == 1
    [delivery] = await svc.deliveries()
    assert delivery.provider_message_id == PROVIDER_ID


@pytest.mark.parametrize("case", list(CASES))
async def test_a_hostile_message_goes_to_the_dlq_with_its_reason(start, case: str) -> None:
    body, override, error_type = CASES[case]
    async with start() as svc:
        mid = await publish(svc, body, **dict(override))

        [dead] = await svc.broker.wait_for(svc.broker.dlq)

        headers = dead.headers
        assert headers["error-type"] == error_type, headers.get("error-message")
        assert headers["error-class"] == "permanent"
        assert str(headers["error-message"])
        if mid is not NO_ID:  # without one, aiormq gives the DLQ copy a random id
            assert dead.message_id == mid
        assert svc.mail.requests == []
        assert await svc.deliveries() == []
        await the_consumer_keeps_going(svc)
        assert await svc.broker.take(svc.broker.dlq) == []


@pytest.mark.parametrize("failures", [0, 5], ids=["accepted", "after-a-503-burst"])
async def test_a_forged_x_death_on_a_valid_event_changes_nothing(start, failures: int) -> None:
    """`x-death` is a cross-check only: a publisher's forged one (a million deaths on the retry
    tier) neither dead-letters a valid event nor spends its retries: a burst of 503s that
    outlasts the mail client's own retries still goes through the tiers, and the email is sent
    once (MQ-9)."""
    async with start() as svc:
        unavailable = Reply.json({"error": "unavailable"}, status=503)
        svc.mail.script(*[unavailable] * failures, notifkit.accepted(PROVIDER_ID))
        mid = await publish(svc, VALID, **{"x-death": True})

        [sent] = await svc.broker.wait_for(svc.broker.sent_queue)

        assert sent.correlation_id == mid
        assert len(svc.mail.requests) == failures + 1
        assert len(await svc.deliveries()) == 1
        assert await svc.broker.take(svc.broker.dlq) == []
