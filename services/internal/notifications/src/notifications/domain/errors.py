"""Errors of the notifications domain, each saying whether a later attempt may succeed (EX-4).

```
NotificationError              the root: a welcome email could not be sent or recorded
├── MailUnavailableError       the mail API could not take it now; later it may
└── MailRefusedError           the same email will fail again: the DLQ, with the reason
    ├── AddressRejectedError       the mail API refused the recipient address
    ├── MailRequestRefusedError    the mail API refused the request (credentials, key reuse)
    └── ReconciliationNeededError  an earlier attempt may have sent it, past the key's lifetime
```

`reason` is what the failure is called in logs and in the DLQ's `error-message` header: the
mail API's error code and a short detail, never the address or the email's text.
"""

from __future__ import annotations


class NotificationError(Exception):
    """A welcome email could not be sent or recorded."""

    temporary: bool = False

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class MailUnavailableError(NotificationError):
    """The mail API could not take the email now (an outage, a rate limit, a key in flight)."""

    temporary = True


class MailRefusedError(NotificationError):
    """The mail API will refuse this email again, however often it is sent."""


class AddressRejectedError(MailRefusedError):
    """The mail API refused the recipient's address."""


class MailRequestRefusedError(MailRefusedError):
    """The mail API refused the request itself (credentials, a reused key, an invalid body)."""


class ReconciliationNeededError(MailRefusedError):
    """An earlier attempt may have sent the email, and the key's replay can no longer tell.

    The intent to send is older than the mail API's idempotency key lifetime and no delivery
    was recorded: sending again could send a second email, so the event goes to the DLQ for a
    person (or a lookup at the provider) to reconcile.
    """
