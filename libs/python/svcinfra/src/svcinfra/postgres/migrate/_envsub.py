r"""`-- +goose ENVSUB ON`: a port of mfridman/interpolate v0.0.2, the version goose v3.21 uses.

Like the library, a line is first parsed whole into text and expansions, then expanded, so a
malformed expansion anywhere on the line fails before any variable is read, and a default
(`${A:-${B?x}}`) is only expanded when it is used.

Per line: `$NAME`, `${NAME}` (unset: empty), `${NAME:-word}` (unset or empty: word),
`${NAME-word}` (unset: word), `${NAME:offset}` and `${NAME:offset:length}` (a byte substring; a
negative offset needs a space after the colon), `${NAME?message}` (unset, not empty: error).
Escapes: `\$` and `$$` both become `$` (so under ENVSUB ON a dollar-quoted body `AS $$ ... $$`
reaches PostgreSQL as `AS $ ... $`, a syntax error: a goose quirk a Go service hits too, named in
docs/goose.md), `\\` stays `\\`, `$(` is left alone, a `$` ending the line is text.
`${NAME:?}` is not supported (the `:` starts a substring). Any other `$` followed by something
that is not a letter (`$1`) is an error: ENVSUB is off by default for that reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

_INT = re.compile(r"[+-]?[0-9]+")


class EnvsubError(ValueError):
    """A `${...}` expression is malformed or a required variable is unset."""


def substitute(text: str, env: Mapping[str, str]) -> str:
    """Expand the variables in one line of SQL, as goose does under `ENVSUB ON`."""
    return _expand(_Parser(text).expression(""), env)


@dataclass(frozen=True, slots=True)
class _Expansion:
    """One `$NAME` / `${NAME...}`: `op` is "", ":-", "-", "?" or ":" (substring)."""

    name: str
    op: str = ""
    content: tuple[str | _Expansion, ...] = ()
    offset: int = 0
    length: int | None = None

    def expand(self, env: Mapping[str, str]) -> str:
        value = env.get(self.name)
        if self.op == ":-":
            return value or _expand(self.content, env)
        if self.op == "-":
            return value if value is not None else _expand(self.content, env)
        if self.op == "?":
            if value is None:
                message = _expand(self.content, env) or "not set"
                raise EnvsubError(f"${self.name}: {message}")
            return value
        if self.op == ":":
            return self._substring((value or "").encode())
        return value or ""

    def _substring(self, raw: bytes) -> str:
        start = min(max(self.offset + len(raw) if self.offset < 0 else self.offset, 0), len(raw))
        if self.length is None:
            return raw[start:].decode(errors="replace")
        end = start + self.length if self.length >= 0 else max(self.length + len(raw), start)
        return raw[start : min(end, len(raw))].decode(errors="replace")


def _expand(items: tuple[str | _Expansion, ...], env: Mapping[str, str]) -> str:
    return "".join(item if isinstance(item, str) else item.expand(env) for item in items)


@dataclass(slots=True)
class _Parser:
    text: str
    pos: int = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        char = self.peek()
        self.pos += len(char)
        return char

    def expression(self, stop: str) -> tuple[str | _Expansion, ...]:
        items: list[str | _Expansion] = []
        while (char := self.peek()) and char not in stop:
            rest = self.text[self.pos : self.pos + 2]
            if rest in {"\\\\", "$("}:
                items.append(rest)
                self.pos += 2
            elif rest in {"\\$", "$$"}:
                items.append("$")
                self.pos += 2
            elif char == "$" and self.pos < len(self.text) - 1:
                items.append(self.expansion())
            else:
                start = self.pos
                self.pos += 1
                while (c := self.peek()) and c not in "$\\" and c not in stop:
                    self.pos += 1
                items.append(self.text[start : self.pos])
        return tuple(items)

    def identifier(self) -> str:
        char = self.peek()
        if not char.isalpha():
            raise EnvsubError(f"Expected identifier to start with a letter, got {char or 'EOF'}")
        start = self.pos
        while (c := self.peek()) and (c.isalpha() or c.isnumeric() or c == "_"):
            self.pos += 1
        return self.text[start : self.pos]

    def expansion(self) -> _Expansion:
        self.next()  # the "$"
        if self.peek() != "{":
            return _Expansion(self.identifier())
        self.next()
        name = self.identifier()
        if self.peek() == "}":
            self.next()
            return _Expansion(name)
        op = self.next()
        if op == ":" and self.peek() == "-":
            self.next()
            op = ":-"
        if op in {":-", "-", "?"}:
            found = _Expansion(name, op, self.expression("}"))
        elif op == ":":
            found = self.substring(name)
        else:
            raise EnvsubError(f"Expected an operator, got {op or 'EOF'}")
        if (end := self.next()) != "}":
            raise EnvsubError(f"Expected brace expansion to end with }}, got {end or 'EOF'}")
        return found

    def substring(self, name: str) -> _Expansion:
        offset = self.number(":}", "offset")
        if self.peek() == "}":
            return _Expansion(name, ":", offset=offset)
        self.next()
        return _Expansion(name, ":", offset=offset, length=self.number("}", "length"))

    def number(self, stop: str, what: str) -> int:
        start = self.pos
        while (c := self.peek()) and c not in stop:
            self.pos += 1
        text = self.text[start : self.pos].strip()
        if not _INT.fullmatch(text):
            raise EnvsubError(
                f'Unable to parse {what}: strconv.Atoi: parsing "{text}": invalid syntax'
            )
        return int(text)
