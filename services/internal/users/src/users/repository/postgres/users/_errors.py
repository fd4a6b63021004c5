"""The translation of `svcinfra.postgres` errors into the users domain's errors (PG-7)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from svcinfra.postgres import (
    Conflict,
    DatabaseError,
    InvalidArgument,
    NotFound,
    TemporarilyUnavailable,
    Timeout,
)
from users.domain import errors

if TYPE_CHECKING:
    from contextlib import AbstractContextManager
    from types import TracebackType

# The constraints of the users migration, by the API field each one guards.
_UNIQUE: Final = {"users_email_key": "email", "users_username_key": "username"}
_CHECKS: Final = {
    "users_email_check": ("email", "must be a lowercase address of at most 254 characters"),
    "users_username_check": ("username", "must be 3-32 characters of a-z, 0-9 and _"),
    "users_display_name_check": ("display_name", "must be 1-100 characters, no control characters"),
}
RETRY_AFTER_SECONDS: Final = 1


def to_domain(exc: DatabaseError) -> errors.DomainError | DatabaseError:
    """The domain's error for a database error; the error itself when it has none (a bug)."""
    if isinstance(exc, NotFound):
        return errors.NotFound("user not found")
    if isinstance(exc, Conflict):
        return errors.Conflict(_UNIQUE.get(exc.constraint or "", "user"))
    if isinstance(exc, InvalidArgument):
        field, reason = _CHECKS.get(exc.constraint or "", ("body", "a value was refused"))
        return errors.InvalidField(field, reason)
    if isinstance(exc, TemporarilyUnavailable | Timeout):
        return errors.Unavailable(str(exc), retry_after=RETRY_AFTER_SECONDS)
    return exc


class _DomainErrors:
    """The context manager of `domain_errors`: a class, not a generator (one per query)."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if isinstance(exc, DatabaseError):
            error = to_domain(exc)
            if error is not exc:
                raise error from exc


_DOMAIN_ERRORS: Final = _DomainErrors()


def domain_errors() -> AbstractContextManager[None]:
    """Raise the domain's error for a database error raised in the block (`to_domain`).

    Raises:
        users.domain.errors.NotFound: a `:one` query found no row.
        users.domain.errors.Conflict: a unique constraint, naming its field.
        users.domain.errors.InvalidField: a check constraint or a value the server refused.
        users.domain.errors.Unavailable: the server is unreachable, or a statement timed out.
    """
    return _DOMAIN_ERRORS
