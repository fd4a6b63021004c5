"""Hypothesis properties of the goose parser (PG-3): round trips; annotations never leak."""

from __future__ import annotations

import string

from hypothesis import given
from hypothesis import strategies as st

from svcinfra.postgres.migrate import MigrationParseError, parse_sql

WORD = st.text(alphabet=string.ascii_letters + string.digits + "_(),.=<>*", min_size=1, max_size=8)
LINE = st.lists(WORD, min_size=1, max_size=5).map(" ".join)
COMMENT = st.text(alphabet=string.ascii_letters + " ", max_size=12).map(
    lambda t: f"-- {t}".rstrip()
)


@st.composite
def plain_statement(draw: st.DrawFn) -> list[str]:
    """A statement goose splits on `;`: inner lines never end in `;`, the last one does."""
    lines = draw(st.lists(LINE, min_size=0, max_size=3))
    inner = [draw(st.one_of(st.just(line), COMMENT)) if i else line for i, line in enumerate(lines)]
    return [*inner, draw(LINE) + ";"]


@st.composite
def block_statement(draw: st.DrawFn) -> list[str]:
    """A StatementBegin/End statement: any line may end in `;` (PL/pgSQL bodies)."""
    lines = draw(st.lists(LINE.map(lambda s: s + ";"), min_size=1, max_size=4))
    return [draw(LINE), *lines]


STATEMENTS = st.lists(
    st.one_of(
        plain_statement().map(lambda lines: (False, lines)),
        block_statement().map(lambda lines: (True, lines)),
    ),
    max_size=4,
)


def render(statements: list[tuple[bool, list[str]]]) -> tuple[list[str], list[str]]:
    """Render statements the way a goose user writes them; return file lines and expected SQL."""
    lines: list[str] = []
    expected: list[str] = []
    for is_block, body in statements:
        lines.append(f"-- {len(expected)}")
        if is_block:
            lines += ["-- +goose StatementBegin", *body, "-- +goose StatementEnd"]
        else:
            lines += body
        lines.append("")
        expected.append("\n".join(body).strip())
    return lines, expected


@given(up=STATEMENTS, down=STATEMENTS, no_tx=st.booleans(), preamble=st.lists(COMMENT, max_size=2))
def test_rendered_migrations_round_trip(
    up: list[tuple[bool, list[str]]],
    down: list[tuple[bool, list[str]]],
    preamble: list[str],
    *,
    no_tx: bool,
) -> None:
    """Statements rendered into a goose file parse back to exactly themselves, in order."""
    up_lines, up_sql = render(up)
    down_lines, down_sql = render(down)
    header = ["-- +goose NO TRANSACTION"] if no_tx else []
    text = "\n".join([*preamble, *header, "-- +goose Up", *up_lines, "-- +goose Down", *down_lines])
    parsed = parse_sql(text, env={})
    assert [s.sql for s in parsed.up] == up_sql
    assert [s.sql for s in parsed.down] == down_sql
    assert parsed.use_tx is not no_tx


@given(up=STATEMENTS)
def test_statement_lines_point_at_the_statement(up: list[tuple[bool, list[str]]]) -> None:
    """Each statement's line number is the line in the file where its text starts."""
    lines, _ = render(up)
    text = "\n".join(["-- +goose Up", *lines])
    file_lines = text.split("\n")
    for statement in parse_sql(text, env={}).up:
        assert file_lines[statement.line - 1] == statement.sql.split("\n", 1)[0]


TOKENS = [
    "-- +goose ",
    "Up",
    "Down",
    "StatementBegin",
    "StatementEnd",
    "NO TRANSACTION",
    "ENVSUB ON",
    "\n",
    " ",
    "\t",
    ";",
    "SELECT 1",
    "--",
    "'",
    "$",
    "{",
]


@given(st.lists(st.sampled_from(TOKENS), max_size=40).map("".join))
def test_annotations_never_leak_and_only_grammar_errors_escape(text: str) -> None:
    """Any text either parses with no annotation inside a statement or fails with a parse error."""
    try:
        parsed = parse_sql(text, env={})
    except MigrationParseError as exc:
        lines = max(text.count("\n") + 1, 1)
        assert 1 <= exc.line <= lines  # noqa: PT017  (a property over any input, not one case)
        return
    for statement in (*parsed.up, *parsed.down):
        assert "+goose" not in statement.sql
