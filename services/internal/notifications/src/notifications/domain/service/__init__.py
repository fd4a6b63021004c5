"""The domain's use case: welcome a registered user by email, then record it (and its port)."""

from .ports import Mailer
from .welcome import WelcomeService, idempotency_key, notification_id

__all__ = ["Mailer", "WelcomeService", "idempotency_key", "notification_id"]
