"""The `user.registered.v1` handler with a fake mailer: decoding and the Retry / Reject mapping
of the domain's errors (MQ-9), without a broker."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from notifications.domain.entity import AcceptedMail
from notifications.domain.errors import (
    AddressRejectedError,
    MailRequestRefusedError,
    MailUnavailableError,
)
from notifications.domain.repository import Intent, IntentState
from notifications.domain.service import WelcomeService
from notifications.transport.mq import UserRegisteredHandler, registration_of

from svcinfra.messaging.consumer import Delivery, Reject, Retry
from svcinfra.testing import capture_logs

PAYLOAD = {
    "user_id": "8e1f6a49-56a4-4c53-9a43-2c6c5d5e1f00",
    "email": "ada@example.com",
    "username": "ada",
    "display_name": "Ada",
    "registered_at": "2026-11-26T08:00:00Z",
}


def delivery(payload: dict[str, object] | None = None) -> Delivery:
    return Delivery(
        name="user.registered.v1",
        version=1,
        payload=PAYLOAD if payload is None else payload,
        message_id="m-1",
        correlation_id=None,
        attempt=1,
        headers={},
        routing_key="user.registered.v1",
        exchange="users.events",
        queue="notifications.user-registered",
        consumer="notifications",
    )


class Mailer:
    def __init__(self, answer: AcceptedMail | Exception) -> None:
        self.answer = answer

    async def send(self, mail):
        del mail
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


class FirstIntents:
    """Every intent is a first attempt's."""

    async def intend(self, source_message_id: str, idempotency_key: str) -> Intent:
        del source_message_id, idempotency_key
        return Intent(new=True, state=IntentState.INTENDED, age=0.0)


def handler(answer: AcceptedMail | Exception) -> UserRegisteredHandler[object]:
    def no_unit(tx: object):
        raise AssertionError(f"send must not open a unit ({tx!r})")

    return UserRegisteredHandler(
        WelcomeService(Mailer(answer), FirstIntents(), key_ttl=60), no_unit
    )


def test_a_delivery_decodes_into_a_registration_keyed_by_its_message_id() -> None:
    """The event's message_id becomes the registration's id; times and ids are parsed."""
    registration = registration_of(delivery())
    assert registration.event_id == "m-1"
    assert str(registration.user_id) == PAYLOAD["user_id"]
    assert registration.registered_at == datetime(2026, 11, 26, 8, tzinfo=UTC)


def test_an_unreadable_payload_is_rejected() -> None:
    """A field the schema let through but the domain cannot read: Reject, no retry."""
    with pytest.raises(Reject, match="unreadable payload"):
        registration_of(delivery(PAYLOAD | {"user_id": "not-a-uuid"}))


@pytest.mark.parametrize(
    ("error", "signal"),
    [
        (MailUnavailableError("mail API unavailable: 503"), Retry),
        (AddressRejectedError("mail API rejected the address: address_rejected"), Reject),
        (MailRequestRefusedError("mail API refused the request: 401"), Reject),
    ],
    ids=["temporary-retry", "address-rejected-dlq", "refused-dlq"],
)
async def test_domain_errors_map_to_the_consumers_signals(error, signal) -> None:
    """Temporary -> Retry (next tier), permanent -> Reject (DLQ), the reason kept."""
    with pytest.raises(signal) as raised:
        await handler(error).send(delivery())
    assert raised.value.reason == error.reason


async def test_a_sent_email_returns_what_the_recording_needs() -> None:
    """The result (stored with the inbox row) carries the provider id, time and replay flag."""
    accepted = AcceptedMail("p-1", datetime(2026, 11, 26, 8, 0, 1, tzinfo=UTC), replayed=True)
    result = await handler(accepted).send(delivery())
    assert result == {
        "provider_message_id": "p-1",
        "accepted_at": "2026-11-26T08:00:01+00:00",
        "replayed": True,
    }


class Unit:
    """The delivery unit of one transaction, in memory: `m-2` was recorded before."""

    def __init__(self) -> None:
        self.added: list[list[str]] = []
        self.announced: list[list[str]] = []

    @property
    def deliveries(self) -> Unit:
        return self

    @property
    def events(self) -> Unit:
        return self

    async def add_many(self, deliveries) -> set[str]:
        self.added.append([d.source_message_id for d in deliveries])
        return {d.source_message_id for d in deliveries} - {"m-2"}

    async def announce_many(self, deliveries) -> None:
        self.announced.append([d.source_message_id for d in deliveries])


async def test_a_group_is_recorded_with_one_call_of_each_port_and_duplicates_are_logged() -> None:
    """`record_many` decodes each item, records the group at once (one add, one announcement
    of the new ones) and logs each event recorded before with its message_id."""
    unit = Unit()
    opened: list[object] = []

    def units(tx: object) -> Unit:
        opened.append(tx)
        return unit

    accepted = AcceptedMail("p-1", datetime(2026, 11, 26, 8, 0, 1, tzinfo=UTC))
    service = WelcomeService(Mailer(accepted), FirstIntents(), key_ttl=60)
    result = await UserRegisteredHandler(service, units).send(delivery())
    items = [(dataclasses.replace(delivery(), message_id=m), result) for m in ("m-1", "m-2", "m-3")]
    with capture_logs(service="notifications", level="INFO") as logs:
        await UserRegisteredHandler(service, units).record_many("tx", items)
    assert opened == ["tx"]
    assert unit.added == [["m-1", "m-2", "m-3"]]
    assert unit.announced == [["m-1", "m-3"]]
    assert [e["message_id"] for e in logs.find("welcome email recorded before")] == ["m-2"]
