"""The welcome email, composed deterministically from its registration, and its acceptance."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime


@dataclass(frozen=True, slots=True)
class WelcomeMail:
    """One email to send, with the key by which the mail API recognises a repeat of it.

    The same registration always gives the same mail, key included: a redelivered event sends
    the same request, which the mail API answers with its first answer (no second email).

    Attributes:
        idempotency_key: derived from the causing event's message_id.
        to: the recipient's address.
        subject: the subject line.
        text: the plain-text body.
        tags: labels the mail API keeps with the message (`kind`).
    """

    idempotency_key: str
    to: str = field(repr=False)
    subject: str = field(repr=False)
    text: str = field(repr=False)
    tags: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class AcceptedMail:
    """The mail API's acceptance of an email.

    Attributes:
        provider_message_id: the mail API's id of the message.
        accepted_at: when the mail API accepted it (UTC).
        replayed: whether this is the answer to an earlier request with the same key.
    """

    provider_message_id: str
    accepted_at: datetime
    replayed: bool = False
