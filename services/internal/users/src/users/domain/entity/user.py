"""The User entity and the values that create or change one, with the rules they obey.

The same rules are CHECK constraints in the database (PG-1, see the users migration), so a
row that breaks them cannot exist whichever code wrote it.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from users.domain.errors import InvalidField

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

USERNAME_MIN: Final = 3
USERNAME_MAX: Final = 32
DISPLAY_NAME_MAX: Final = 100
EMAIL_MAX: Final = 254
USERNAME_PATTERN: Final = re.compile(r"[a-z0-9_]{3,32}")
# The control characters (Unicode category Cc, exactly these 65 code points), as a regex class
# body: neither an address nor a display name may hold one.
CONTROL_CHARACTERS: Final = r"\x00-\x1f\x7f-\x9f"
# Whitespace as any of the three regex engines that read these patterns sees it (Python's `re`
# here, pydantic's Rust regex at the API, ECMA-262 in OpenAPI clients and schemathesis): `\s`
# differs between them (U+0085 and U+FEFF), so the patterns name the union instead.
WHITESPACE: Final = (
    r"\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
# One @, a non-empty local part, a dotted domain; no whitespace and no control character (a NUL
# would otherwise reach PostgreSQL, which refuses it in text, and an ESC would be stored).
# Deliverability is the mail provider's call: the domain only refuses what can never be an
# address.
EMAIL_PATTERN: Final = re.compile(
    rf"[^@{WHITESPACE}{CONTROL_CHARACTERS}]+@[^@.{WHITESPACE}{CONTROL_CHARACTERS}]+"
    rf"(\.[^@.{WHITESPACE}{CONTROL_CHARACTERS}]+)+"
)


@dataclass(frozen=True, slots=True)
class User:
    """A registered user; every time is UTC.

    Attributes:
        id: the user's id.
        email: lowercase, unique.
        username: 3-32 characters of [a-z0-9_], unique.
        display_name: 1-100 characters, no control characters.
        created_at: when the user registered.
        updated_at: when the user last changed (created_at until then).
    """

    id: UUID
    email: str
    username: str
    display_name: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class NewUser:
    """A user about to register, already normalized and valid (build it with `parse`)."""

    email: str
    username: str
    display_name: str

    @classmethod
    def parse(cls, *, email: str, username: str, display_name: str) -> NewUser:
        """Normalize and check the fields of a registration.

        Raises:
            InvalidField: the first field that breaks its rule.
        """
        return cls(
            email=normalize_email(email),
            username=normalize_username(username),
            display_name=check_display_name(display_name),
        )


@dataclass(frozen=True, slots=True)
class UserChanges:
    """A partial update: None leaves a field as it is (build it with `parse`)."""

    email: str | None = None
    username: str | None = None
    display_name: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        email: str | None = None,
        username: str | None = None,
        display_name: str | None = None,
    ) -> UserChanges:
        """Normalize and check the fields that change; at least one must.

        Raises:
            InvalidField: no field changes, or the first field that breaks its rule.
        """
        if email is None and username is None and display_name is None:
            raise InvalidField("body", "give at least one of email, username, display_name")
        return cls(
            email=None if email is None else normalize_email(email),
            username=None if username is None else normalize_username(username),
            display_name=None if display_name is None else check_display_name(display_name),
        )


def normalize_username(value: str) -> str:
    """Return the username in lowercase.

    Raises:
        InvalidField: it is not 3-32 characters of [a-z0-9_] (case-insensitively).
    """
    username = value.lower()
    if not USERNAME_PATTERN.fullmatch(username):
        raise InvalidField(
            "username",
            f"must be {USERNAME_MIN}-{USERNAME_MAX} characters of a-z, 0-9 and _",
        )
    return username


def normalize_email(value: str) -> str:
    """Return the address in lowercase (addresses are unique case-insensitively).

    Raises:
        InvalidField: it is longer than 254 characters or not shaped like an address.
    """
    email = value.strip().lower()
    if len(email) > EMAIL_MAX:
        raise InvalidField("email", f"must be at most {EMAIL_MAX} characters")
    if not EMAIL_PATTERN.fullmatch(email):
        raise InvalidField("email", "must be an address like name@example.com")
    return email


def check_display_name(value: str) -> str:
    """Return the display name unchanged.

    Raises:
        InvalidField: it is empty, longer than 100 characters or holds a control character.
    """
    if not 1 <= len(value) <= DISPLAY_NAME_MAX:
        raise InvalidField("display_name", f"must be 1-{DISPLAY_NAME_MAX} characters")
    if any(unicodedata.category(char) == "Cc" for char in value):
        raise InvalidField("display_name", "must not contain control characters")
    return value
