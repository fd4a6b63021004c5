"""The domain's storage ports.

PG-9: the interfaces live here, their Postgres implementation in `notifications.repository`.
"""

from .deliveries import DeliveryRepository, DeliveryUnit, SentEvents
from .intents import Intent, IntentState, MailIntents

__all__ = [
    "DeliveryRepository",
    "DeliveryUnit",
    "Intent",
    "IntentState",
    "MailIntents",
    "SentEvents",
]
