"""The domain's errors: what a use case can fail with, in the domain's words.

Adapters translate their infrastructure errors into these (a unique violation becomes
`Conflict`, a lost connection `Unavailable`); the transport maps them to status codes at one
boundary. Anything else that escapes a use case is a bug, answered with a plain 500.
"""

from __future__ import annotations


class DomainError(Exception):
    """Root of the users domain's errors."""


class InvalidField(DomainError):  # noqa: N818  (the domain's vocabulary, as in Go's errs)
    """A value breaks a rule of the domain; names the field and the rule.

    Attributes:
        field: the field's name as the API spells it (`username`).
        reason: the rule it breaks, safe to show to the caller.
    """

    def __init__(self, field: str, reason: str) -> None:
        self.field = field
        self.reason = reason
        super().__init__(f"{field}: {reason}")


class NotFound(DomainError):  # noqa: N818  (the domain's vocabulary, as in Go's errs)
    """The user does not exist."""


class Conflict(DomainError):  # noqa: N818  (the domain's vocabulary, as in Go's errs)
    """A unique field's value belongs to another user.

    Attributes:
        field: the unique field (`email` or `username`).
    """

    def __init__(self, field: str) -> None:
        self.field = field
        super().__init__(f"{field} is already taken")


class Unavailable(DomainError):  # noqa: N818  (the domain's vocabulary, as in Go's errs)
    """A dependency the use case cannot do without is down; the same call may work later.

    Attributes:
        retry_after: seconds the caller should wait before trying again.
    """

    def __init__(self, message: str, *, retry_after: int = 1) -> None:
        self.retry_after = retry_after
        super().__init__(message)
