"""Is this Python string SQL? A keyword guess, confirmed by PostgreSQL's own parser (pglast).

A string is SQL when its first word is a statement keyword, PostgreSQL's parser accepts it (with
interpolation holes filled by an identifier), and it does not read as prose: an English sentence
such as "Select a user from the list" parses too, so a capitalised sentence without any SQL
punctuation is left alone.
"""

from __future__ import annotations

import ast
import re
from typing import Final

from pglast import parser as pg_parser

_VERBS: Final = frozenset(
    {
        "select",
        "insert",
        "update",
        "delete",
        "with",
        "create",
        "alter",
        "drop",
        "truncate",
        "merge",
        "copy",
        "grant",
        "revoke",
        "values",
        "table",
        "lock",
        "call",
        "do",
        "set",
        "reset",
        "show",
        "listen",
        "unlisten",
        "notify",
        "prepare",
        "declare",
        "discard",
        "vacuum",
        "analyze",
        "explain",
        "refresh",
        "reindex",
        "cluster",
        "comment",
    }
)
_FIRST: Final = re.compile(r"\s*\(?\s*([A-Za-z]+)\b")
_HOLES: Final = re.compile(r"%\([^)]*\)[sdr]|%[sdr]|\{[^{}]*\}")
_SQL_MARKS: Final = re.compile(r"[*=$(;,<>]|::")
_HOLE: Final = "x"


def first_keyword(text: str) -> str | None:
    """The lower-cased first word when it starts an SQL statement, else None."""
    match = _FIRST.match(text)
    if match is None or match.group(1).lower() not in _VERBS:
        return None
    return match.group(1)


def looks_sql(text: str) -> bool:
    """Whether `text` (with `%s`, `{x}` holes allowed) is an SQL statement, not prose."""
    verb = first_keyword(text)
    if verb is None or len(text.split()) < 2:  # noqa: PLR2004  (a display or word-count limit)
        return False
    if not (verb.isupper() or _SQL_MARKS.search(text) or text == text.lower()):
        return False
    try:
        pg_parser.parse_sql(_HOLES.sub(_HOLE, text))
    except pg_parser.ParseError:
        return False
    return True


def template_text(node: ast.expr) -> str | None:  # noqa: PLR0911  (one return per expression kind)
    """The text an f-string, `%`, `+` or `.format` builds, holes as `{}`; None if not a string."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(
            str(part.value) if isinstance(part, ast.Constant) else "{}" for part in node.values
        )
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        left = template_text(node.left)
        if isinstance(node.op, ast.Mod):
            return left
        right = template_text(node.right)
        if left is None and right is None:
            return None
        return (left if left is not None else "{}") + (right if right is not None else "{}")
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"format", "join"}
    ):
        return template_text(node.func.value) if node.func.attr == "format" else None
    return None


def is_built(node: ast.expr) -> bool:
    """Whether the expression builds a string at run time (f-string, %, +, .format, .join)."""
    if isinstance(node, ast.JoinedStr):
        return any(isinstance(part, ast.FormattedValue) for part in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod | ast.Add):
        return True
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in {"format", "join"}
    )
