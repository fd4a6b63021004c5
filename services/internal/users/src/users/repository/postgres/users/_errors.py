"""The translation of `svcinfra.postgres` errors into the users domain's errors (PG-7)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Final

from svcinfra.postgres import (
    Conflict,
    InvalidArgument,
    NotFound,
    TemporarilyUnavailable,
    Timeout,
)
from users.domain import errors

if TYPE_CHECKING:
    from collections.abc import Iterator

# The constraints of the users migration, by the API field each one guards.
_UNIQUE: Final = {"users_email_key": "email", "users_username_key": "username"}
_CHECKS: Final = {
    "users_email_check": ("email", "must be a lowercase address of at most 254 characters"),
    "users_username_check": ("username", "must be 3-32 characters of a-z, 0-9 and _"),
    "users_display_name_check": ("display_name", "must be 1-100 characters, no control characters"),
}
RETRY_AFTER_SECONDS: Final = 1


@contextmanager
def domain_errors() -> Iterator[None]:
    """Raise the domain's error for a database error raised in the block.

    Raises:
        users.domain.errors.NotFound: a `:one` query found no row.
        users.domain.errors.Conflict: a unique constraint, naming its field.
        users.domain.errors.InvalidField: a check constraint or a value the server refused.
        users.domain.errors.Unavailable: the server is unreachable, or a statement timed out.
    """
    try:
        yield
    except NotFound as exc:
        raise errors.NotFound("user not found") from exc
    except Conflict as exc:
        raise errors.Conflict(_UNIQUE.get(exc.constraint or "", "user")) from exc
    except InvalidArgument as exc:
        field, reason = _CHECKS.get(exc.constraint or "", ("body", "a value was refused"))
        raise errors.InvalidField(field, reason) from exc
    except (TemporarilyUnavailable, Timeout) as exc:
        raise errors.Unavailable(str(exc), retry_after=RETRY_AFTER_SECONDS) from exc
