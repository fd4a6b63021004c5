"""A search over users: optional filters, one sort order, keyset pagination by an opaque cursor.

A cursor holds the sort key's value and the id of the last user of a page, so the next page
starts right after it (`(key, id) > (cursor.key, cursor.id)`), whatever was inserted meanwhile;
it is bound to the sort order it was made for.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Final
from uuid import UUID

from users.domain.entity.user import USERNAME_MAX, normalize_email
from users.domain.errors import InvalidField

if TYPE_CHECKING:
    from users.domain.entity.user import User

LIMIT_MAX: Final = 100
# The first and last instants a `datetime` holds in UTC (see `_in_utc`).
_FIRST: Final = datetime.min.replace(tzinfo=UTC)
_LAST: Final = datetime.max.replace(tzinfo=UTC)
PREFIX_PATTERN: Final = re.compile(r"[a-z0-9_]{1,32}")


class SortKey(StrEnum):
    """What a search sorts by."""

    CREATED_AT = "created_at"
    USERNAME = "username"


class SortOrder(StrEnum):
    """The sort orders the API accepts: a key, descending with a leading `-`."""

    CREATED_AT = "created_at"
    CREATED_AT_DESC = "-created_at"
    USERNAME = "username"
    USERNAME_DESC = "-username"

    @property
    def key(self) -> SortKey:
        """The column sorted by."""
        return SortKey(self.value.removeprefix("-"))

    @property
    def descending(self) -> bool:
        """Whether the order is descending."""
        return self.value.startswith("-")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where the next page starts: just after (`key`, `id`) in `order`."""

    order: SortOrder
    key: datetime | str
    id: UUID

    @classmethod
    def after(cls, user: User, order: SortOrder) -> Cursor:
        """The cursor of the page that follows `user`."""
        key = user.created_at if order.key is SortKey.CREATED_AT else user.username
        return cls(order, key, user.id)

    def encode(self) -> str:
        """Return the opaque, URL-safe form the API hands out."""
        key = self.key.isoformat() if isinstance(self.key, datetime) else self.key
        raw = json.dumps(
            {"o": self.order.value, "k": key, "i": str(self.id)}, separators=(",", ":")
        )
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str, order: SortOrder) -> Cursor:
        """Read a cursor the API handed out, for a search sorted by `order`.

        Raises:
            InvalidField: it was not made by `encode`, or for another sort order.
        """
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            made_for = SortOrder(raw["o"])
            id_ = UUID(raw["i"])
            key: datetime | str = raw["k"]
            if not isinstance(key, str):
                raise TypeError("key")  # noqa: TRY301  (one handler for every malformed shape)
            if made_for.key is SortKey.CREATED_AT:
                key = datetime.fromisoformat(key)
                if key.tzinfo is None:
                    raise TypeError("naive")  # noqa: TRY301
        except (ValueError, TypeError, KeyError, binascii.Error, UnicodeDecodeError) as exc:
            raise InvalidField("cursor", "is not a cursor this API returned") from exc
        if made_for is not order:
            raise InvalidField("cursor", f"was made for sort={made_for.value}, not {order.value}")
        return cls(made_for, key, id_)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    """Filters (None: not filtered), the order, the page size and where the page starts."""

    username_prefix: str | None = None
    email: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None
    order: SortOrder = SortOrder.CREATED_AT
    limit: int = 20
    after: Cursor | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= LIMIT_MAX:
            raise InvalidField("limit", f"must be between 1 and {LIMIT_MAX}")
        for name in ("created_after", "created_before"):
            value = getattr(self, name)
            if value is not None and value.tzinfo is None:
                raise InvalidField(name, "must carry a time zone offset (e.g. Z)")


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a search, and the cursor of the next one (None on the last page)."""

    users: tuple[User, ...]
    next_cursor: Cursor | None


def parse_search(
    *,
    username_prefix: str | None = None,
    email: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    sort: str = SortOrder.CREATED_AT.value,
    limit: int = 20,
    cursor: str | None = None,
) -> SearchQuery:
    """Build a search from the API's parameters, normalized like the stored values.

    Raises:
        InvalidField: the first parameter that breaks its rule.
    """
    try:
        order = SortOrder(sort)
    except ValueError:
        allowed = ", ".join(o.value for o in SortOrder)
        raise InvalidField("sort", f"must be one of {allowed}") from None
    if username_prefix is not None:
        username_prefix = username_prefix.lower()
        if not PREFIX_PATTERN.fullmatch(username_prefix):
            raise InvalidField(
                "username_prefix", f"must be 1-{USERNAME_MAX} characters of a-z, 0-9 and _"
            )
    return SearchQuery(
        username_prefix=username_prefix,
        email=None if email is None else normalize_email(email),
        created_after=_in_utc("created_after", created_after),
        created_before=_in_utc("created_before", created_before),
        order=order,
        limit=limit,
        after=None if cursor is None else Cursor.decode(cursor, order),
    )


def _in_utc(name: str, value: datetime | None) -> datetime | None:
    """`value` in UTC, as `created_at` is stored; an instant outside Python's range is clamped.

    `0001-01-01T00:00:09+08:32` is a valid date-time whose UTC instant falls in year 0, which a
    `datetime` cannot hold (nor the driver encode). Clamped to the first (or last) instant a
    `datetime` can hold, it filters exactly as it would: every stored `created_at` lies between.

    Raises:
        InvalidField: `value` has no time zone offset.
    """
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidField(name, "must carry a time zone offset (e.g. Z)")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        return _FIRST if value.year == _FIRST.year else _LAST
