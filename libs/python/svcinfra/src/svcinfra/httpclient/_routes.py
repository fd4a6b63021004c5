"""`RouteTemplates`: route templates such as `/v1/users/{user_id}`, filled with quoted values.

The template, not the URL, names a call in logs, metrics and spans: it is bounded and carries
no ids (EX-5). A route is checked once and then cached.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import quote

from ._errors import AdapterUsageError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from uuid import UUID

PathValue = str | int
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Routes are literals in adapter code; the bound only matters for a misuse (ids in the route).
_CACHE_SIZE = 512


class RouteTemplates:
    """Checks route templates and fills them with URL-quoted path values."""

    __slots__ = ("_names", "_parts")

    def __init__(self) -> None:
        self._names: dict[str, tuple[str, ...]] = {}
        # route -> (literal, name, literal, name, ..., literal): split once, joined per call.
        self._parts: dict[str, tuple[str, ...]] = {}

    def placeholders(self, route: str) -> tuple[str, ...]:
        """Return the placeholder names of `route`, in order.

        Raises:
            AdapterUsageError: the route is not a path, carries a query, or a placeholder is
                not an identifier.
        """
        names = self._names.get(route)
        if names is not None:
            return names
        if not route.startswith("/") or "?" in route or "#" in route:
            raise AdapterUsageError(
                f"route {route!r} must start with '/' and carry no query (use params)",
            )
        names = tuple(_PLACEHOLDER.findall(route))
        if not all(_IDENTIFIER.match(name) for name in names):
            raise AdapterUsageError(f"route {route!r}: placeholders must be {{identifiers}}")
        if len(set(names)) != len(names):
            raise AdapterUsageError(f"route {route!r}: a placeholder appears twice")
        if len(self._names) < _CACHE_SIZE:
            self._names[route] = names
        return names

    def format(self, route: str, path: Mapping[str, PathValue | UUID] | None) -> str:
        """Return `route` with each placeholder replaced by its quoted value from `path`.

        Raises:
            AdapterUsageError: a placeholder has no value, a value has no placeholder, or a
                value is empty.
        """
        parts = self._parts.get(route)
        if parts is None:
            parts = self._split(route)
        given = path or {}
        if len(parts) == 1:  # no placeholder: the route is the path
            if given:
                self._mismatch(route, given)
            return route
        if len(given) != len(parts) // 2:
            self._mismatch(route, given)
        pieces = list(parts)
        for i in range(1, len(parts), 2):
            name = parts[i]
            if name not in given:
                self._mismatch(route, given)
            value = str(given[name])
            if not value:
                raise AdapterUsageError(f"route {route!r}: path parameter {name!r} is empty")
            pieces[i] = quote(value, safe="")
        return "".join(pieces)

    def _split(self, route: str) -> tuple[str, ...]:
        self.placeholders(route)  # raises on a bad route
        # Placeholders are identifiers, unique: splitting on them alternates literal and name.
        parts = tuple(_PLACEHOLDER.split(route))
        if len(self._parts) < _CACHE_SIZE and route in self._names:
            self._parts[route] = parts
        return parts

    def _mismatch(self, route: str, given: Mapping[str, object]) -> NoReturn:
        names = self.placeholders(route)
        missing = sorted(set(names) - set(given))
        extra = sorted(set(given) - set(names))
        raise AdapterUsageError(
            f"route {route!r}: path parameters missing {missing}, unexpected {extra}",
        )
