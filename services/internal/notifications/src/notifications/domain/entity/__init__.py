"""The domain's values: the event consumed, the email composed, the delivery recorded."""

from .delivery import Delivery, NotificationKind
from .mail import AcceptedMail, WelcomeMail
from .registration import Registration

__all__ = ["AcceptedMail", "Delivery", "NotificationKind", "Registration", "WelcomeMail"]
