"""Control-flow signals a handler raises to decide its message's fate; they are not errors.

```
HandlerSignal   the root: caught by the consumer, never propagated
├── Retry       a temporary failure: the next retry tier, the DLQ after the last (MQ-9)
└── Reject      a permanent failure: the DLQ at once (MQ-9, MQ-10)
```

The `reason` of a signal is written to the message's `error-message` header and logged: it must
name what went wrong without personal data (`"mail API answered 503"`, not the address).
"""

from __future__ import annotations


class HandlerSignal(Exception):  # noqa: N818  (a signal, not an error)
    """The root of the signals a handler raises to settle its message."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class Retry(HandlerSignal):
    """Raise to retry the message after its next retry tier's delay (a temporary failure)."""


class Reject(HandlerSignal):
    """Raise to send the message to the DLQ at once, with `reason` (a permanent failure)."""
