"""The port of the intents to send: written before the mail call, turned `sent` with its record."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


class IntentState(StrEnum):
    """Where an email's intent stands."""

    INTENDED = "intended"
    SENT = "sent"


@dataclass(frozen=True, slots=True)
class Intent:
    """The intent to send one event's email.

    Attributes:
        new: written by this call (the first attempt), not found from an earlier one.
        state: `intended` until the delivery is recorded, then `sent`.
        age: seconds since the first attempt wrote it.
    """

    new: bool
    state: IntentState
    age: float


class MailIntents(Protocol):
    """The intents to send, one per causing event, committed before each mail call."""

    async def intend(self, source_message_id: str, idempotency_key: str) -> Intent:
        """Record the intent to send the event's email, or return the one recorded before."""
        ...
