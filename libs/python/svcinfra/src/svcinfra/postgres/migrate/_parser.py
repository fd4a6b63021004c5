"""goose's SQL migration grammar, as `pressly/goose:internal/sqlparser/parser.go` has it (PG-3).

The parser is goose's line state machine, run once per direction as goose's `ParseAllFromFS` does,
so a file splits into exactly the statements goose executes, quirks included:

* an annotation is a line that, trimmed, starts with `--` and contains `+goose`; it must start at
  column 1; the words after `+goose` (case-insensitive) are one of Up, Down, StatementBegin,
  StatementEnd, NO TRANSACTION, ENVSUB ON, ENVSUB OFF;
* `-- +goose Up` comes first (blank lines and comments may precede it), then `Down` at most once;
* outside StatementBegin/End a statement ends on a line whose last word before the first word
  starting with `--` ends with `;`. Quotes are not tracked (goose issue #699, open): `--` inside
  a string literal (`VALUES ('a -- b');`) hides the `;`, so the statement runs on into the next
  one, or, last before `-- +goose Down` or the end of the file, is rejected as unfinished
  ("missing semicolon?"); a multi-line string closed on a line with a trailing comment
  (`line', 'x'); -- note`) ends the statement; a `;` ending a line inside a multi-line string
  ends it too (PostgreSQL then rejects the cut statement);
* comments and empty lines before a statement are dropped, those inside it are kept, and each
  statement is trimmed; StatementBegin ... StatementEnd is one statement whatever its semicolons;
* `NO TRANSACTION` anywhere applies to both directions; `ENVSUB ON/OFF` switches per-line
  substitution (see `_envsub`) of the lines a statement is made of: comment lines before a
  statement are dropped unsubstituted, those inside one are substituted (`$1` there fails);
* an empty StatementBegin/StatementEnd pair leaves the parser in its StatementEnd state, so the
  next line is dropped and an empty statement is emitted (goose does the same).

goose's CLI parses one direction of a file when it runs it; goose's Provider parses both before
running any pending file. `parse_sql` parses both, `parse_direction` one.

Unlike goose, every error and every statement carries its 1-based line number.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from enum import Enum, auto
from typing import TYPE_CHECKING

from ._envsub import EnvsubError, substitute
from ._errors import MigrationParseError

if TYPE_CHECKING:
    from collections.abc import Mapping

# Go's unicode.IsSpace, which strings.TrimSpace and bufio.ScanWords use; str.strip() differs.
_GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"  # noqa: E501  (one character class)
_WORDS = re.compile(f"[^{_GO_SPACE}]+")

ANNOTATIONS = (
    "Up",
    "Down",
    "StatementBegin",
    "StatementEnd",
    "NO TRANSACTION",
    "ENVSUB ON",
    "ENVSUB OFF",
)
_BY_FOLDED = {name.casefold(): name for name in ANNOTATIONS}


class _State(Enum):
    START = auto()
    UP = auto()
    BEGIN_UP = auto()
    END_UP = auto()
    DOWN = auto()
    BEGIN_DOWN = auto()
    END_DOWN = auto()


_UP_STATES = {_State.UP, _State.BEGIN_UP, _State.END_UP}
_DOWN_STATES = {_State.DOWN, _State.BEGIN_DOWN, _State.END_DOWN}


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement goose would pass to `ExecContext`, and the line it starts on."""

    sql: str
    line: int


@dataclass(frozen=True, slots=True)
class ParsedSQL:
    """A migration file split into its Up and Down statements."""

    up: tuple[Statement, ...]
    down: tuple[Statement, ...]
    use_tx: bool


def parse_sql(
    text: str,
    *,
    source: str = "<string>",
    env: Mapping[str, str] | None = None,
) -> ParsedSQL:
    """Split a goose SQL migration into statements, both directions, as goose does.

    Args:
        text: the file's content.
        source: the file name used in error messages.
        env: variables for `ENVSUB ON` sections; the process environment by default.

    Raises:
        MigrationParseError: the file breaks the grammar; the message names file and line.
    """
    variables = os.environ if env is None else env
    up, use_tx = _parse(text, up=True, source=source, env=variables)
    down, _ = _parse(text, up=False, source=source, env=variables)
    return ParsedSQL(up=up, down=down, use_tx=use_tx)


def parse_direction(
    text: str,
    *,
    up: bool,
    source: str = "<string>",
    env: Mapping[str, str] | None = None,
) -> tuple[tuple[Statement, ...], bool]:
    """Split one direction of a goose SQL migration, as goose's CLI does when it runs it.

    Returns the statements and whether they run in a transaction.

    Raises:
        MigrationParseError: the file breaks the grammar for this direction.
    """
    return _parse(text, up=up, source=source, env=os.environ if env is None else env)


def ends_with_semicolon(line: str) -> bool:
    """Tell whether a line ends a statement, as goose's `endsWithSemicolon` does.

    The last word (Go `bufio.ScanWords`) before the first word starting with `--` ends in `;`.
    Quotes are not tracked: `SELECT 'a -- b';` does not end a statement (goose issue #699).
    """
    previous = ""
    for word in _WORDS.findall(line):
        if word.startswith("--"):
            break
        previous = word
    return previous.endswith(";")


def _trim(text: str) -> str:
    return text.strip(_GO_SPACE)


def _annotation(line: str, source: str, number: int) -> str:
    if line.startswith((" ", "\t")):
        raise MigrationParseError(source, number, "a '-- +goose' annotation must start at column 1")
    command = line.replace("--", "").replace("+goose", "", 1)
    if "+goose" in command:
        raise MigrationParseError(source, number, "more than one '+goose' annotation on the line")
    command = _trim(command)
    if not command:
        raise MigrationParseError(source, number, "empty '-- +goose' annotation")
    found = _BY_FOLDED.get(command.casefold())
    if found is None:
        raise MigrationParseError(
            source,
            number,
            f"unknown annotation {command!r}; expected one of {', '.join(ANNOTATIONS)}",
        )
    return found


def _lines(text: str) -> list[str]:
    # bufio.ScanLines: split on "\n", drop one trailing "\r", no empty token after a final "\n".
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


class _Buffer:
    """The statement being collected, with the line of its first non-blank line."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.start = 0

    def __bool__(self) -> bool:
        return bool(self.parts)

    def add(self, line: str, number: int) -> None:
        if not self.start and _trim(line):
            self.start = number
        self.parts.append(line + "\n")

    def text(self) -> str:
        return _trim("".join(self.parts))

    def take(self, number: int) -> Statement:
        statement = Statement(self.text(), self.start or number)
        self.reset()
        return statement

    def reset(self) -> None:
        self.parts.clear()
        self.start = 0


def _unfinished(buffer: _Buffer, source: str) -> MigrationParseError:
    first = buffer.text().split("\n", 1)[0]
    return MigrationParseError(
        source,
        buffer.start,
        f"unfinished SQL statement {first[:60]!r}: missing semicolon, or a StatementEnd?",
    )


def _parse(  # noqa: C901, PLR0912, PLR0915  (one state machine, kept whole to mirror goose's)
    text: str,
    *,
    up: bool,
    source: str,
    env: Mapping[str, str],
) -> tuple[tuple[Statement, ...], bool]:
    state = _State.START
    use_tx = True
    envsub = False
    begin_line = 0
    buffer = _Buffer()
    statements: list[Statement] = []
    for number, raw in enumerate(_lines(text), start=1):
        line = raw
        if state is _State.START and not _trim(line):
            continue
        if _trim(line).startswith("--") and "+goose" in line:
            command = _annotation(line, source, number)
            if command == "Up":
                if state is not _State.START:
                    raise MigrationParseError(source, number, "duplicate '-- +goose Up'")
                state = _State.UP
                continue
            if command == "Down":
                if state in {_State.UP, _State.END_UP}:
                    if buffer.text():
                        raise _unfinished(buffer, source)
                    state = _State.DOWN
                    continue
                reason = {
                    _State.START: "'-- +goose Down' before '-- +goose Up'",
                    _State.BEGIN_UP: f"'-- +goose Down' inside the StatementBegin of line "
                    f"{begin_line} (missing StatementEnd?)",
                }.get(state, "duplicate '-- +goose Down'")
                raise MigrationParseError(source, number, reason)
            if command == "StatementBegin":
                if state in {_State.UP, _State.END_UP}:
                    state = _State.BEGIN_UP
                elif state in {_State.DOWN, _State.END_DOWN}:
                    state = _State.BEGIN_DOWN
                elif state is _State.START:
                    raise MigrationParseError(
                        source,
                        number,
                        "'-- +goose StatementBegin' before '-- +goose Up'",
                    )
                else:
                    raise MigrationParseError(
                        source,
                        number,
                        f"nested '-- +goose StatementBegin' (the one of line {begin_line} "
                        "has no StatementEnd)",
                    )
                begin_line = number
                continue
            if command == "StatementEnd":
                if state is _State.BEGIN_UP:
                    state = _State.END_UP
                elif state is _State.BEGIN_DOWN:
                    state = _State.END_DOWN
                else:
                    raise MigrationParseError(
                        source,
                        number,
                        "'-- +goose StatementEnd' without a StatementBegin",
                    )
                # No `continue`: goose lets the End line fall through and closes the statement.
            elif command == "NO TRANSACTION":
                use_tx = False
                continue
            else:
                envsub = command == "ENVSUB ON"
                continue
        if not buffer and (_trim(line).startswith("--") or not line):
            continue
        if state not in {_State.END_UP, _State.END_DOWN}:
            if envsub:
                try:
                    line = substitute(line, env)
                except EnvsubError as exc:
                    raise MigrationParseError(
                        source,
                        number,
                        f"variable substitution failed: {exc}",
                    ) from exc
            buffer.add(line, number)
        if state in _UP_STATES:
            if not up:
                buffer.reset()
                continue
        elif state in _DOWN_STATES:
            if up:
                buffer.reset()
                continue
        else:
            raise MigrationParseError(source, number, "SQL before '-- +goose Up'")
        if state in {_State.UP, _State.DOWN}:
            if ends_with_semicolon(line):
                statements.append(buffer.take(number))
        elif state is _State.END_UP:
            statements.append(buffer.take(number))
            state = _State.UP
        elif state is _State.END_DOWN:
            statements.append(buffer.take(number))
            state = _State.DOWN
    if state is _State.START:
        raise MigrationParseError(source, 1, "no '-- +goose Up' annotation (PG-3 requires one)")
    if state in {_State.BEGIN_UP, _State.BEGIN_DOWN}:
        raise MigrationParseError(
            source,
            begin_line,
            "'-- +goose StatementBegin' has no '-- +goose StatementEnd'",
        )
    if buffer.text():
        raise _unfinished(buffer, source)
    return tuple(statements), use_tx
