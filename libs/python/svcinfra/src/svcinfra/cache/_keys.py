"""Key namespaces: every key is `<domain>:<entity>:<id>` (RD-3), validated when it is built."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._errors import KeyFormatError

__all__ = ["KeyNamespace", "parse_key"]

# Domain and entity name what a key holds; they become metric labels, so they stay short and
# plain. `.` is kept out of them so that the cache's own keys (`<entity>.lock`) cannot collide.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
# An id may be anything printable without whitespace; `:` is allowed (the first two separate).
_ID = re.compile(r"[^\s\x00-\x1f\x7f]{1,256}")
MAX_ID_LENGTH = 256


def _check_segment(kind: str, value: object) -> str:
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value):
        raise KeyFormatError(
            f"key {kind} {value!r} is invalid (RD-3: keys are <domain>:<entity>:<id>; "
            "a domain or entity is 1-64 letters, digits, '_' or '-', starting with a letter or "
            "digit, with no ':' and no whitespace)",
        )
    return value


def _id_text(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise KeyFormatError(f"key id must be a str or an int, not {type(value).__name__} (RD-3)")
    text = str(value)
    if not _ID.fullmatch(text):
        raise KeyFormatError(
            f"key id {text[:40]!r} is invalid (RD-3: an id is 1-{MAX_ID_LENGTH} characters "
            "with no whitespace or control characters)",
        )
    return text


@dataclass(frozen=True, slots=True)
class KeyNamespace:
    """The `<domain>:<entity>` part of a family of keys, such as `user:profile` (RD-3).

    A `Cache` cannot be built without one. Its `name` is the only key-derived metric label:
    metrics never carry a full key or an id.

        profiles = KeyNamespace("user", "profile")
        profiles.key(123)          # 'user:profile:123'

    Raises:
        KeyFormatError: a segment is empty, too long, or holds `:`, whitespace or punctuation.
    """

    domain: str
    entity: str
    name: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_segment("domain", self.domain)
        _check_segment("entity", self.entity)
        object.__setattr__(self, "name", f"{self.domain}:{self.entity}")

    @property
    def pattern(self) -> str:
        """The SCAN pattern that matches this namespace's value keys."""
        return f"{self.name}:*"

    def key(self, id_: str | int) -> str:
        """Return the key of `id_`: `<domain>:<entity>:<id>`.

        Raises:
            KeyFormatError: `id_` is empty, too long, or holds whitespace or control characters.
        """
        return f"{self.name}:{_id_text(id_)}"

    def lock_key(self, id_: str | int) -> str:
        """Return the key of the short-lease fill lock of `id_` (`<domain>:<entity>.lock:<id>`)."""
        return f"{self.name}.lock:{_id_text(id_)}"

    def absent_key(self, id_: str | int) -> str:
        """Return the key of the negative entry of `id_` (`<domain>:<entity>.absent:<id>`)."""
        return f"{self.name}.absent:{_id_text(id_)}"


def parse_key(key: str) -> tuple[KeyNamespace, str]:
    """Split a value key into its namespace and id; the inverse of `KeyNamespace.key`.

    Raises:
        KeyFormatError: `key` is not `<domain>:<entity>:<id>`.
    """
    parts = key.split(":", 2)
    if len(parts) != 3:  # noqa: PLR2004  (domain, entity, id)
        raise KeyFormatError(f"key {key[:80]!r} is not <domain>:<entity>:<id> (RD-3)")
    domain, entity, id_ = parts
    return KeyNamespace(domain, entity), _id_text(id_)
