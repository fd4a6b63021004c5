"""What fake-mail is about, without HTTP: the record of sent mail, idempotency and faults."""

from .faults import Decision, FaultInjector, Faults, Outcome, ScriptStep
from .mailbox import Mailbox, Message, SendRequest
from .service import (
    Accepted,
    AddressRejected,
    InFlight,
    KeyReused,
    MailService,
    Replayed,
    SendResult,
    Unavailable,
)

__all__ = [
    "Accepted",
    "AddressRejected",
    "Decision",
    "FaultInjector",
    "Faults",
    "InFlight",
    "KeyReused",
    "MailService",
    "Mailbox",
    "Message",
    "Outcome",
    "Replayed",
    "ScriptStep",
    "SendRequest",
    "SendResult",
    "Unavailable",
]
