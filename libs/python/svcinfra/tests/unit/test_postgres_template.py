"""Safe templates: only allow-listed choices reach the SQL text, values are always bound (PG-6)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from svcinfra.postgres import QueryLoadError, Template, TemplateError
from svcinfra.postgres._loader import parse_file

SEARCH = """-- name: users__search :many
SELECT id FROM users
WHERE true
{{ if status }} AND status = @status{{ end }}
{{ if after_id }} AND ({{ sort: id | created => created_at }}, id)
  {{ direction: asc => > | desc => < }} (@after_key, @after_id){{ end }}
ORDER BY {{ sort: id | created => created_at }} {{ direction: asc => ASC | desc => DESC }}
LIMIT @limit
"""


def _search() -> Template:
    template = parse_file(SEARCH, source="search.sql", folder="users")
    assert isinstance(template, Template)
    return template


def _params(**overrides: object) -> dict[str, object]:
    base: dict[str, object] = {
        "status": None,
        "after_id": None,
        "after_key": None,
        "sort": "id",
        "direction": "asc",
        "limit": 20,
    }
    return base | overrides


def test_first_page_binds_only_what_it_uses() -> None:
    """Switched-off fragments vanish and the remaining values are numbered from $1."""
    query, args = _search().render(**_params())
    assert "status" not in query.sql.split("WHERE")[1]
    assert query.sql.endswith("ORDER BY id ASC\nLIMIT $1")
    assert args == (20,)
    assert query.parameters == 1


def test_next_page_descending_uses_keyset_and_allow_listed_sql() -> None:
    """The keyset fragment takes the chosen column and operator, written in the file."""
    query, args = _search().render(
        **_params(
            status="active", after_id=7, after_key="2026-01-01", sort="created", direction="desc"
        )
    )
    assert "AND status = $1" in query.sql
    assert "(created_at, id)\n  < ($2, $3)" in query.sql
    assert "ORDER BY created_at DESC" in query.sql
    assert args == ("active", "2026-01-01", 7, 20)


def test_variants_are_cached() -> None:
    """Rendering the same choices twice returns the same Query object (one prepared statement)."""
    template = _search()
    first, _ = template.render(**_params(limit=1))
    second, _ = template.render(**_params(limit=2))
    other, _ = template.render(**_params(sort="created"))
    assert first is second
    assert other is not first


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"sort": "id; DROP TABLE users"}, "'sort' is not one of its allowed choices"),
        ({"sort": "created_at"}, "'sort' is not one of its allowed choices"),
        ({"direction": 1}, "'direction' is not one of its allowed choices"),
        ({"extra": 1}, r"unknown parameter\(s\) \['extra'\]"),
    ],
    ids=["injection", "sql-instead-of-key", "not-a-string", "unknown-name"],
)
def test_render_refuses_what_is_not_allowed(overrides: dict[str, object], fragment: str) -> None:
    """A choice outside its allow-list or an unknown name raises, and the value is not echoed."""
    with pytest.raises(TemplateError, match=fragment) as caught:
        _search().render(**_params(**overrides))
    assert "DROP" not in str(caught.value)


def test_render_requires_every_parameter() -> None:
    """Leaving a parameter out is an error naming it (None is how a fragment is switched off)."""
    params = _params()
    del params["status"]
    with pytest.raises(TemplateError, match=r"missing parameter\(s\) \['status'\]"):
        _search().render(**params)


@pytest.mark.parametrize(
    ("body", "line", "fragment"),
    [
        ("SELECT 1 WHERE a = {{ value }}", 2, "would interpolate a value: bind it with @value"),
        ("SELECT 1 {{ if a }} AND b", 2, "is never closed"),
        ("SELECT 1 {{ end }}", 2, "without {{ if }}"),
        ("SELECT 1\nORDER BY {{ s: a | b }}, {{ s: a | c }}", 3, "other keys than its first use"),
        ("SELECT 1 ORDER BY {{ s: a | a }}", 2, "appears twice"),
        ("SELECT 1 ORDER BY {{ s: a => 'x' }}", 2, "plain fragment"),
        ("SELECT 1 ORDER BY {{ s: 1a }}", 2, "needs `=> <sql>`"),
        ("SELECT $1 ORDER BY {{ s: a }}", 2, "positional $1 in a template"),
        ("SELECT 1 {{ what is this }}", 2, "unknown template tag"),
        ("SELECT 1 {{ if a }}", 2, "is never closed"),
        ("SELECT 1 ORDER BY {{ s: a | b", 2, "unterminated template tag"),
    ],
    ids=[
        "bare-value",
        "unclosed-if",
        "stray-end",
        "inconsistent-choice",
        "duplicate-key",
        "quote-in-sql",
        "key-needs-sql",
        "positional",
        "unknown-tag",
        "never-closed",
        "unterminated",
    ],
)
def test_template_errors_name_the_line(body: str, line: int, fragment: str) -> None:
    """A malformed template fails at load with its line and what is wrong."""
    with pytest.raises(QueryLoadError) as caught:
        parse_file(f"-- name: m__q :many\n{body}\n", source="q.sql")
    (problem,) = caught.value.problems
    assert (problem.file, problem.line) == ("q.sql", line)
    assert fragment in problem.message


_VALUES = st.one_of(
    st.none(),
    st.integers(),
    st.text(alphabet="abc'\";-$@{}%_ \n", min_size=1, max_size=20),
)


@given(
    status=_VALUES,
    after_id=_VALUES,
    after_key=_VALUES,
    limit=_VALUES,
    sort=st.sampled_from(["id", "created"]),
    direction=st.sampled_from(["asc", "desc"]),
)
def test_values_never_reach_the_sql_text(**params: object) -> None:
    """Whatever the values, the text only varies by choices and $n, and args bind them in order."""
    template = _search()
    query, args = template.render(**params)
    numbers = sorted({int(n) for n in re.findall(r"\$(\d+)", query.sql)})
    assert numbers == list(range(1, len(args) + 1))
    assert query.parameters == len(args)
    neutral = {k: (v if k in {"sort", "direction"} or v is None else 0) for k, v in params.items()}
    same_shape, _ = template.render(**neutral)
    assert same_shape.sql == query.sql
    assert params["limit"] in args
