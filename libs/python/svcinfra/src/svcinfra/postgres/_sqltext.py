"""A small SQL lexer: what in a query is code, and what is a literal, a comment or a placeholder.

It knows just enough of PostgreSQL's lexical rules to find `$n` placeholders, template tags,
`@name` binds, statement ends and leading keywords outside string literals (`'...'`, `E'...'`),
quoted identifiers, dollar-quoted bodies and comments (nested `/* */` included).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterator


class Tok(Enum):
    """The kinds of pieces a query text is split into."""

    CODE = "code"
    OPAQUE = "opaque"  # a literal, a quoted identifier or a comment: passed through untouched
    PLACEHOLDER = "placeholder"  # $n
    TAG = "tag"  # {{ ... }}
    BIND = "bind"  # @name


@dataclass(frozen=True, slots=True)
class Token:
    """One piece of a query text, with the 1-based line it starts on."""

    kind: Tok
    text: str
    line: int


class LexError(ValueError):
    """The text cannot be split (an unterminated literal, comment or tag)."""

    def __init__(self, message: str, line: int) -> None:
        self.line = line
        super().__init__(message)


_DOLLAR_TAG: Final = re.compile(r"\$([A-Za-z_\x80-\uffff][A-Za-z0-9_\x80-\uffff]*)?\$")
_PLACEHOLDER: Final = re.compile(r"\$(\d+)")
_BIND: Final = re.compile(r"@([A-Za-z_][A-Za-z0-9_]*)")
_SPECIAL: Final = re.compile(r"""['"$@{]|--|/\*|[EeUu]&?'""")


def tokens(text: str, *, template: bool = False) -> Iterator[Token]:  # noqa: C901, PLR0912, PLR0915  (one state machine)
    """Split `text` into tokens; `{{ }}` tags and `@name` binds are recognised only in a template.

    Raises:
        LexError: an unterminated literal, quoted identifier, comment, dollar body or tag.
    """
    pos, line, size = 0, 1, len(text)
    code_start = 0

    def flush(end: int) -> Iterator[Token]:
        if end > code_start:
            chunk = text[code_start:end]
            yield Token(Tok.CODE, chunk, line - chunk.count("\n"))

    while pos < size:
        match = _SPECIAL.search(text, pos)
        if match is None:
            break
        start = match.start()
        line += text.count("\n", pos, start)
        pos = start
        lead = match.group()
        kind = Tok.OPAQUE
        if lead == "--":
            end = text.find("\n", start)
            end = size if end == -1 else end
        elif lead == "/*":
            end = _block_comment_end(text, start, line)
        elif lead.endswith("'"):
            escapes = lead[0] in "Ee" and (start == 0 or not _ident_char(text[start - 1]))
            end = _quoted_end(text, start + len(lead) - 1, "'", line, backslash=escapes)
        elif lead == '"':
            end = _quoted_end(text, start, '"', line, backslash=False)
        elif lead == "$":
            placeholder = _PLACEHOLDER.match(text, start)
            tag = _DOLLAR_TAG.match(text, start)
            if placeholder is not None and (start == 0 or not _ident_char(text[start - 1])):
                kind, end = Tok.PLACEHOLDER, placeholder.end()
            elif tag is not None and (start == 0 or not _ident_char(text[start - 1])):
                close = text.find(tag.group(), tag.end())
                if close == -1:
                    raise LexError("unterminated dollar-quoted string", line)
                end = close + len(tag.group())
            else:
                pos += 1
                continue
        elif lead == "@":
            bind = _BIND.match(text, start)
            if not template or bind is None or (start > 0 and text[start - 1] in "@<>"):
                pos += 1
                continue
            kind, end = Tok.BIND, bind.end()
        else:  # "{"
            if not template or not text.startswith("{{", start):
                pos += 1
                continue
            close = text.find("}}", start + 2)
            if close == -1:
                raise LexError("unterminated template tag '{{' (missing '}}')", line)
            kind, end = Tok.TAG, close + 2
        yield from flush(start)
        yield Token(kind, text[start:end], line)
        line += text.count("\n", start, end)
        pos = code_start = end
    line += text.count("\n", pos, size)
    yield from flush(size)


def _ident_char(char: str) -> bool:
    return char.isalnum() or char in "_$"


def _quoted_end(text: str, start: int, quote: str, line: int, *, backslash: bool) -> int:
    pos = start + 1
    while True:
        end = text.find(quote, pos)
        if end == -1:
            what = "string literal" if quote == "'" else "quoted identifier"
            raise LexError(f"unterminated {what}", line)
        if backslash and _escaped(text, start, end):
            pos = end + 1
            continue
        if text.startswith(quote * 2, end):
            pos = end + 2
            continue
        return end + 1


def _escaped(text: str, start: int, end: int) -> bool:
    count = 0
    while end - count - 1 > start and text[end - count - 1] == "\\":
        count += 1
    return count % 2 == 1


def _block_comment_end(text: str, start: int, line: int) -> int:
    depth, pos = 0, start
    while True:
        opening = text.find("/*", pos)
        closing = text.find("*/", pos)
        if closing == -1:
            raise LexError("unterminated /* comment", line)
        if opening != -1 and opening < closing:
            depth, pos = depth + 1, opening + 2
        else:
            depth, pos = depth - 1, closing + 2
            if depth == 0:
                return pos


_WORD: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True, slots=True)
class Shape:
    """What a query's code says about it: its leading verb and how many statements it has.

    Whether it changes the session is PostgreSQL's parser's call, not the lexer's (`_session`).
    """

    verb: str
    statements: int


def shape(pieces: list[Token]) -> Shape:
    """Return the leading verb and statement count of an already-lexed query."""
    code = " ".join(
        "$0" if token.kind in {Tok.PLACEHOLDER, Tok.BIND, Tok.TAG} else token.text
        for token in pieces
        if token.kind is not Tok.OPAQUE
    )
    statements = [part.strip() for part in code.split(";")]
    statements = [part for part in statements if part]
    words = _WORD.findall(statements[0][:64])[:1] if statements else []
    return Shape(verb=words[0].upper() if words else "", statements=len(statements))
