"""Key namespaces: every key is `<domain>:<entity>:<id>` (RD-3), validated when it is built."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ._errors import KeyFormatError

__all__ = ["KeyNamespace", "hash_tag", "parse_key", "same_slot_key"]

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

    def lock_key(self, id_: str | int, *, same_slot: bool = False) -> str:
        """Return the key of the short-lease fill lock of `id_` (`<domain>:<entity>.lock:<id>`).

        `same_slot` (Redis Cluster, issue 20): a key in the hash slot of `key(id_)`, as the fill
        script needs; see `same_slot_key`.
        """
        return self._aux_key("lock", id_, same_slot=same_slot)

    def absent_key(self, id_: str | int, *, same_slot: bool = False) -> str:
        """Return the key of the negative entry of `id_` (`<domain>:<entity>.absent:<id>`).

        `same_slot`: in the hash slot of `key(id_)`, as for `lock_key`.
        """
        return self._aux_key("absent", id_, same_slot=same_slot)

    def _aux_key(self, kind: str, id_: str | int, *, same_slot: bool) -> str:
        text = _id_text(id_)
        plain = f"{self.name}.{kind}:{text}"
        if not same_slot:
            return plain
        return same_slot_key(f"{self.name}:{text}", plain, f".{kind}")


def hash_tag(key: str) -> str | None:
    """The part of `key` that Redis Cluster hashes when it is not the whole key, else None.

    Redis's rule: the text between the first `{` and the first `}` after it, if not empty.
    """
    start = key.find("{")
    if start < 0:
        return None
    end = key.find("}", start + 1)
    return None if end <= start + 1 else key[start + 1 : end]


def same_slot_key(value_key: str, plain: str, suffix: str) -> str:
    """A companion key of `value_key` that Redis Cluster puts in the same hash slot.

    The cache's fill lock and negative entry are written with the value in one script (RD-5),
    and a cluster runs a script only on keys of one slot. The value key keeps its form (RD-3):
    it is its companions that carry a hash tag, `{<domain>:<entity>:<id>}.lock`, whose hashed
    part is the value key itself. An id that holds a hash tag of its own (`{...}`) already
    pins the value key's slot, and `plain` (the same id after a brace-free prefix) shares it.

    Raises:
        KeyFormatError: the id holds a `}` but no hash tag: no companion key can share the
            slot of a key whose whole text is hashed and contains `}`.
    """
    if hash_tag(value_key) is not None:
        return plain
    if "}" in value_key:
        raise KeyFormatError(
            f"key {value_key[:80]!r}: on Redis Cluster an id with '}}' must hold a hash tag "
            "'{...}' (its lock and negative entry could not share its slot otherwise)"
        )
    return f"{{{value_key}}}{suffix}"


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
