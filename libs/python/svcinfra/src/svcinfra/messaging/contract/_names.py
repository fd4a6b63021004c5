"""Parsing of the contract's message names (`user.registered.v1`) and durations (`10s`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Self

_SEGMENT = r"[a-z][a-z0-9_-]*"
_NAME = re.compile(rf"^(?P<base>{_SEGMENT}(?:\.{_SEGMENT})*)\.v(?P<version>[1-9][0-9]{{0,5}})$")
_DURATION = re.compile(r"^(?P<amount>[1-9][0-9]{0,8})(?P<unit>ms|s|m|h)$")
_UNIT_MS = {"h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}


@dataclass(frozen=True, slots=True)
class MessageName:
    """A versioned message name: dotted lowercase segments and a `.vN` suffix (MQ-2).

    `user.registered.v1` has base `user.registered` and version 1. The same text is the
    message's AMQP `type` and, on its exchange, its routing key.
    """

    base: str
    version: int

    @classmethod
    def parse(cls, text: str) -> Self:
        """Parse `text`; raise ValueError naming the expected form when it is not one."""
        match = _NAME.match(text)
        if match is None:
            raise ValueError(
                f"{text!r} is not a versioned message name like 'user.registered.v1' "
                "(lowercase dotted segments, then .v and a version from 1)",
            )
        return cls(match["base"], int(match["version"]))

    def __str__(self) -> str:
        return f"{self.base}.v{self.version}"


def version_suffix(routing_key: str) -> int | None:
    """Return the N of a routing key ending in `.vN`, or None when it has no version suffix."""
    head, _, last = routing_key.rpartition(".")
    if head and re.fullmatch(r"v[1-9][0-9]{0,5}", last):
        return int(last[1:])
    return None


def parse_duration(text: str) -> int:
    """Return the milliseconds of a retry delay written `500ms`, `10s`, `5m` or `1h`."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a duration like '500ms', '10s', '5m' or '1h'")
    return int(match["amount"]) * _UNIT_MS[match["unit"]]


def format_duration(milliseconds: int) -> str:
    """Return the shortest text `parse_duration` reads back as `milliseconds` (`10000` -> `10s`)."""
    if milliseconds <= 0:
        raise ValueError("a duration is positive")
    for unit, size in _UNIT_MS.items():
        if milliseconds % size == 0:
            return f"{milliseconds // size}{unit}"
    raise AssertionError(
        "unreachable: every whole number of milliseconds has a unit"
    )  # pragma: no cover


def topic_matches(pattern: str, routing_key: str) -> bool:
    """Whether a topic-exchange binding `pattern` (`*` one word, `#` zero or more) matches."""
    return _topic_match(pattern.split("."), routing_key.split("."))


def _topic_match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_topic_match(rest, words[skip:]) for skip in range(len(words) + 1))
    if not words:
        return False
    return (head in {"*", words[0]}) and _topic_match(rest, words[1:])
