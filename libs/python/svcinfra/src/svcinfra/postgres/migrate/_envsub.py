r"""`-- +goose ENVSUB ON` substitution: the rules of mfridman/interpolate, as goose uses them.

Supported, per line: `$NAME`, `${NAME}` (unset: empty), `${NAME:-word}` (unset or empty: word),
`${NAME-word}` (unset: word), `${NAME:offset}` and `${NAME:offset:length}` (substring; a negative
offset needs a space after the colon), `${NAME?message}` (unset: error). Words nest
(`${A:-${B:-x}}`). Escapes: `\$` is a literal `$`, `\\` stays as is, `$(` is left alone,
and `$$` is kept as `$$`, so PostgreSQL dollar quoting survives (goose's own golden test
`internal/sqlparser/testdata/envsub/test02` expects `AS $$` unchanged). `${NAME:?}` is not
supported by goose and is an error here too. Any other `$` followed by something that is not a
letter (`$1`) is an error, as in the library: ENVSUB is off by default for that reason.
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
    parser = _Parser(text)
    return parser.expression("", env)


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

    def expression(self, stop: str, env: Mapping[str, str]) -> str:
        out: list[str] = []
        while (char := self.peek()) and char not in stop:
            rest = self.text[self.pos : self.pos + 2]
            if rest in {"\\\\", "$$", "$("}:
                out.append(rest)
                self.pos += 2
            elif rest == "\\$":
                out.append("$")
                self.pos += 2
            elif char == "$" and self.pos < len(self.text) - 1:
                out.append(self.expansion(env))
            else:
                start = self.pos
                self.pos += 1
                while (c := self.peek()) and c not in "$\\" and c not in stop:
                    self.pos += 1
                out.append(self.text[start : self.pos])
        return "".join(out)

    def identifier(self) -> str:
        char = self.peek()
        if not char.isalpha():
            raise EnvsubError(f"expected a variable name to start with a letter, got {char!r}")
        start = self.pos
        while (c := self.peek()) and (c.isalnum() or c == "_"):
            self.pos += 1
        return self.text[start : self.pos]

    def expansion(self, env: Mapping[str, str]) -> str:
        self.next()  # the "$"
        if self.peek() != "{":
            return env.get(self.identifier(), "")
        self.next()
        name = self.identifier()
        if self.peek() == "}":
            self.next()
            return env.get(name, "")
        op = self.next()
        if op == ":" and self.peek() == "-":
            self.next()
            op = ":-"
        if op == ":-":
            word = self.expression("}", env)
            value = env.get(name, "") or word
        elif op == "-":
            word = self.expression("}", env)
            value = env.get(name, word)
        elif op == "?":
            message = self.expression("}", env)
            if name not in env:
                raise EnvsubError(f"${name}: {message or 'not set'}")
            value = env[name]
        elif op == ":":
            value = self.substring(env.get(name, ""))
        else:
            raise EnvsubError(f"expected an operator after ${{{name}, got {op or 'end of line'!r}")
        if self.next() != "}":
            raise EnvsubError(f"expected ${{{name}...}} to end with '}}'")
        return value

    def substring(self, value: str) -> str:
        offset = self.number(":}")
        length: int | None = None
        if self.peek() != "}":
            self.next()
            length = self.number("}")
        raw = value.encode()
        start = offset + len(raw) if offset < 0 else offset
        start = min(max(start, 0), len(raw))
        if length is None:
            return raw[start:].decode(errors="replace")
        end = start + length if length >= 0 else max(length + len(raw), start)
        return raw[start : min(end, len(raw))].decode(errors="replace")

    def number(self, stop: str) -> int:
        start = self.pos
        while (c := self.peek()) and c not in stop:
            self.pos += 1
        text = self.text[start : self.pos].strip()
        if not _INT.fullmatch(text):
            raise EnvsubError(f"expected a number in a substring expansion, got {text!r}")
        return int(text)
