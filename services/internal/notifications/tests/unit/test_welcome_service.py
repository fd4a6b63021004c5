"""The domain service with in-memory fakes: composing, sending and recording a welcome email."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest
from notifications.domain.entity import AcceptedMail, Delivery, Registration, WelcomeMail
from notifications.domain.errors import (
    AddressRejectedError,
    MailUnavailableError,
    ReconciliationNeededError,
)
from notifications.domain.repository import Intent, IntentState
from notifications.domain.service import WelcomeService, idempotency_key, notification_id

if TYPE_CHECKING:
    from collections.abc import Sequence


def registration(event_id: str = "m-1", **change: object) -> Registration:
    values: dict[str, object] = {
        "event_id": event_id,
        "user_id": uuid.UUID("8e1f6a49-56a4-4c53-9a43-2c6c5d5e1f00"),
        "email": "ada@example.com",
        "username": "ada",
        "display_name": "Ada Lovelace",
        "registered_at": datetime(2026, 11, 26, 8, tzinfo=UTC),
    } | change
    return Registration(**values)  # type: ignore[arg-type]


ACCEPTED = AcceptedMail("p-1", datetime(2026, 11, 26, 8, 0, 1, tzinfo=UTC))


@dataclass
class FakeMailer:
    """Records what it was asked to send; answers from a script, then ACCEPTED."""

    script: list[AcceptedMail | Exception] = field(default_factory=list)
    sent: list[WelcomeMail] = field(default_factory=list)

    async def send(self, mail: WelcomeMail) -> AcceptedMail:
        self.sent.append(mail)
        answer = self.script.pop(0) if self.script else ACCEPTED
        if isinstance(answer, Exception):
            raise answer
        return answer


@dataclass
class FakeIntents:
    """Intents in memory; `age` is what an existing intent reports (the test's clock)."""

    rows: dict[str, IntentState] = field(default_factory=dict)
    age: float = 0.0

    async def intend(self, source_message_id: str, idempotency_key: str) -> Intent:
        assert idempotency_key == f"welcome-{source_message_id}"
        if source_message_id not in self.rows:
            self.rows[source_message_id] = IntentState.INTENDED
            return Intent(new=True, state=IntentState.INTENDED, age=0.0)
        return Intent(new=False, state=self.rows[source_message_id], age=self.age)


def service(mailer: FakeMailer, intents: FakeIntents | None = None) -> WelcomeService:
    return WelcomeService(mailer, intents or FakeIntents(), key_ttl=60)


@dataclass
class FakeUnit:
    """Deliveries unique by source event, and the announcements made, in memory; `calls`
    lists the port calls in order (one entry per statement the real unit would run)."""

    rows: dict[str, Delivery] = field(default_factory=dict)
    announced: list[Delivery] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)

    @property
    def deliveries(self) -> FakeUnit:
        return self

    @property
    def events(self) -> FakeUnit:
        return self

    async def add_many(self, deliveries: Sequence[Delivery]) -> set[str]:
        self.calls.append("add_many")
        new = {d.source_message_id for d in deliveries} - self.rows.keys()
        for delivery in deliveries:
            self.rows.setdefault(delivery.source_message_id, delivery)
        return new

    async def get_by_source(self, source_message_id: str) -> Delivery | None:
        return self.rows.get(source_message_id)

    async def announce_many(self, deliveries: Sequence[Delivery]) -> None:
        self.calls.append("announce_many")
        self.announced.extend(deliveries)


def test_the_same_event_composes_the_same_mail_with_a_key_from_its_message_id() -> None:
    """A redelivered event makes the very same request: key, recipient, subject and text."""
    first = WelcomeService.compose(registration("m-1"))
    again = WelcomeService.compose(registration("m-1"))
    other = WelcomeService.compose(registration("m-2"))
    assert first == again
    assert first.idempotency_key == "welcome-m-1" == idempotency_key("m-1")
    assert other.idempotency_key != first.idempotency_key
    assert first.to == "ada@example.com"
    assert first.tags == {"kind": "welcome"}
    assert "Ada Lovelace" in first.subject
    assert "ada" in first.text


@pytest.mark.parametrize(
    ("display_name", "greeting"),
    [("Ada Lovelace", "Ada Lovelace"), ("  ", "ada")],
    ids=["display-name", "blank-display-name"],
)
def test_the_greeting_falls_back_to_the_username(display_name, greeting) -> None:
    """A blank display name greets the user by username."""
    mail = WelcomeService.compose(registration(display_name=display_name))
    assert mail.subject == f"Welcome, {greeting}!"


def test_the_mail_repr_shows_no_personal_data() -> None:
    """Reprs (which end up in tracebacks) omit the address, subject and text."""
    text = repr(WelcomeService.compose(registration())) + repr(registration())
    assert "ada@example.com" not in text
    assert "Lovelace" not in text


async def test_send_hands_the_composed_mail_to_the_mailer() -> None:
    """`send` sends exactly the composed mail and returns the mailer's acceptance."""
    mailer = FakeMailer()
    accepted = await service(mailer).send(registration())
    assert accepted == ACCEPTED
    assert mailer.sent == [WelcomeService.compose(registration())]


@pytest.mark.parametrize(
    "error",
    [MailUnavailableError("503"), AddressRejectedError("address_rejected")],
    ids=["temporary", "permanent"],
)
async def test_send_lets_the_mailers_domain_errors_through(error) -> None:
    """The mailer's temporary and permanent errors reach the caller unchanged."""
    with pytest.raises(type(error)):
        await service(FakeMailer(script=[error])).send(registration())


async def test_record_writes_one_delivery_and_one_announcement() -> None:
    """The delivery carries the acceptance and a notification id derived from the event."""
    unit = FakeUnit()
    delivery = await WelcomeService.record(registration("m-1"), ACCEPTED, unit)
    assert delivery is not None
    assert delivery.notification_id == notification_id("m-1")
    assert delivery.provider_message_id == "p-1"
    assert delivery.sent_at == ACCEPTED.accepted_at
    assert unit.rows == {"m-1": delivery}
    assert unit.announced == [delivery]


async def test_recording_the_same_event_again_writes_and_announces_nothing() -> None:
    """A duplicate (the unique source event) returns None: no second row, no second event."""
    unit = FakeUnit()
    await WelcomeService.record(registration("m-1"), ACCEPTED, unit)
    again = await WelcomeService.record(registration("m-1"), ACCEPTED, unit)
    assert again is None
    assert len(unit.rows) == 1
    assert len(unit.announced) == 1


async def test_record_many_writes_a_group_with_one_add_and_one_announcement() -> None:
    """A group of N new events: one `add_many`, one `announce_many` of all N, in order."""
    unit = FakeUnit()
    pairs = [(registration(f"m-{i}"), ACCEPTED) for i in (3, 1, 2)]
    recorded = await WelcomeService.record_many(pairs, unit)
    assert unit.calls == ["add_many", "announce_many"]
    assert [d.source_message_id if d else None for d in recorded] == ["m-3", "m-1", "m-2"]
    assert [d.notification_id if d else None for d in recorded] == [
        notification_id(i) for i in ("m-3", "m-1", "m-2")
    ]
    assert unit.announced == recorded
    assert unit.rows == {d.source_message_id: d for d in recorded if d is not None}


async def test_record_many_announces_only_the_new_and_returns_none_for_the_old() -> None:
    """Events recorded before get None and no second announcement; the new ones are announced."""
    unit = FakeUnit()
    [old] = await WelcomeService.record_many([(registration("m-2"), ACCEPTED)], unit)
    assert old is not None
    unit.announced.clear()
    unit.calls.clear()
    later = AcceptedMail("p-2", datetime(2026, 11, 26, 9, tzinfo=UTC), replayed=True)
    recorded = await WelcomeService.record_many(
        [(registration("m-1"), later), (registration("m-2"), later), (registration("m-3"), later)],
        unit,
    )
    assert recorded[1] is None
    assert [d.source_message_id for d in recorded if d is not None] == ["m-1", "m-3"]
    assert unit.announced == [recorded[0], recorded[2]]
    assert unit.calls == ["add_many", "announce_many"]
    assert unit.rows["m-2"] == old  # the earlier record stays as it was


async def test_record_many_of_old_events_only_announces_nothing() -> None:
    """A group of duplicates only: every item None, no announcement statement at all."""
    unit = FakeUnit()
    await WelcomeService.record_many([(registration("m-1"), ACCEPTED)], unit)
    unit.calls.clear()
    again = await WelcomeService.record_many(
        [(registration("m-1"), ACCEPTED), (registration("m-1"), ACCEPTED)], unit
    )
    assert again == [None, None]
    assert unit.calls == ["add_many"]
    assert len(unit.announced) == 1


async def test_record_many_records_an_event_repeated_in_the_group_once() -> None:
    """The same event twice in one group: recorded and announced at its first pair only."""
    unit = FakeUnit()
    recorded = await WelcomeService.record_many(
        [(registration("m-1"), ACCEPTED), (registration("m-1"), ACCEPTED)], unit
    )
    assert recorded[0] is not None
    assert recorded[1] is None
    assert unit.announced == [recorded[0]]


def test_notification_ids_are_stable_per_event_and_distinct_across_events() -> None:
    """The same event always gets the same notification id; different events different ones."""
    assert notification_id("m-1") == notification_id("m-1")
    assert notification_id("m-1") != notification_id("m-2")


def test_domain_errors_say_whether_they_are_temporary() -> None:
    """The error tree carries the temporary/permanent split the consumer relies on (EX-4)."""
    assert MailUnavailableError("x").temporary is True
    assert AddressRejectedError("x").temporary is False


async def test_a_repeat_within_the_key_lifetime_calls_the_api_again_with_the_same_key() -> None:
    """MQ-3: an intent younger than the key's lifetime: the API's replay answers the repeat."""
    mailer, intents = FakeMailer(), FakeIntents(age=59.9)
    await service(mailer, intents).send(registration())
    await service(mailer, intents).send(registration())
    assert [m.idempotency_key for m in mailer.sent] == ["welcome-m-1", "welcome-m-1"]


@pytest.mark.parametrize("state", list(IntentState))
async def test_a_repeat_past_the_key_lifetime_needs_reconciliation_not_a_second_email(
    state: IntentState,
) -> None:
    """MQ-3, MQ-10: an intent as old as the key's lifetime: no call, the DLQ's reason."""
    mailer, intents = FakeMailer(), FakeIntents(age=60.0)
    await service(mailer, intents).send(registration())
    intents.rows["m-1"] = state
    with pytest.raises(ReconciliationNeededError, match="reconciliation needed") as raised:
        await service(mailer, intents).send(registration())
    assert "60s ago" in raised.value.reason
    assert str(state) in raised.value.reason
    assert len(mailer.sent) == 1


def test_the_key_lifetime_must_be_positive() -> None:
    with pytest.raises(ValueError, match="key_ttl must be positive"):
        WelcomeService(FakeMailer(), FakeIntents(), key_ttl=0)
