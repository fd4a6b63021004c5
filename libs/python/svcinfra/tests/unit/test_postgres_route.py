"""`-- route: standby`: which named queries may run on a standby, decided when they are loaded."""

from __future__ import annotations

import pytest

from svcinfra.config import PostgresSettings
from svcinfra.postgres import QueryLoadError, Template, TemplateError
from svcinfra.postgres._loader import parse_file
from svcinfra.postgres._query import HeaderError, Query, parse_route
from svcinfra.postgres._session import not_a_pure_read


def _load(text: str) -> Query | Template:
    return parse_file(text, source="users/sql/q.sql", folder="users")


def _problem(text: str) -> str:
    with pytest.raises(QueryLoadError) as caught:
        _load(text)
    (problem,) = caught.value.problems
    return f"{problem.line}: {problem.message}"


def test_a_declared_read_is_routed_and_an_undeclared_one_is_not() -> None:
    """The declaration is per query: only the file that says so runs on a standby."""
    routed = _load("-- name: users__list :many\n-- route: standby\nSELECT id FROM users\n")
    plain = _load("-- name: users__list :many\nSELECT id FROM users\n")
    primary = _load("-- name: users__list :many\n-- route: primary\nSELECT id FROM users\n")
    assert isinstance(routed, Query)
    assert isinstance(plain, Query)
    assert isinstance(primary, Query)
    assert (routed.standby, plain.standby, primary.standby) == (True, False, False)


def test_the_route_line_may_come_before_the_header_among_the_comments() -> None:
    """Like the header, it is a comment before the SQL; sqlc keeps it as a doc comment."""
    query = _load("-- Lists users.\n-- route: standby\n-- name: users__list :many\nSELECT 1\n")
    assert isinstance(query, Query)
    assert query.standby


@pytest.mark.parametrize(
    ("line", "target"),
    [
        ("-- route: standby", "standby"),
        ("--route:standby", "standby"),
        ("  -- ROUTE: primary  ", "primary"),
        ("-- routed to the standby", None),
        ("SELECT 1 -- route: standby", None),
    ],
)
def test_route_lines(line: str, target: str | None) -> None:
    """Only a whole comment line of the form `-- route: <target>` is a route line."""
    assert parse_route(line) == target


def test_an_unknown_target_is_an_error_naming_it() -> None:
    """A typo is not silently a primary read."""
    with pytest.raises(HeaderError, match="unknown route 'replica'"):
        parse_route("-- route: replica")
    assert _problem("-- name: users__get :one\n-- route: replica\nSELECT 1\n").startswith("2: ")


@pytest.mark.parametrize(
    ("sql", "kind", "fragment"),
    [
        ("DELETE FROM users", ":exec", "on a :exec query"),
        ("UPDATE users SET x = 1", ":execrows", "on a :execrows query"),
        ("INSERT INTO users (id) VALUES (1) RETURNING id", ":one", "is not a SELECT"),
        (
            "WITH gone AS (DELETE FROM users RETURNING id) SELECT id FROM gone",
            ":many",
            "modifies data",
        ),
        ("SELECT id FROM users FOR UPDATE", ":many", "locks rows"),
        ("SELECT id FROM users FOR SHARE SKIP LOCKED", ":many", "locks rows"),
        ("SELECT nextval('users_id_seq')", ":one", "calls nextval()"),
        ("SELECT pg_notify('c', 'x')", ":one", "calls pg_notify()"),
        ("SELECT my_function()", ":one", "may change the session"),
        ("SELECT set_config('a.b', 'x', false)", ":one", "may change the session"),
    ],
)
def test_only_a_plain_read_may_be_routed(sql: str, kind: str, fragment: str) -> None:
    """What a standby would refuse (25006) is refused at load time, with the line."""
    problem = _problem(f"-- name: users__q {kind}\n-- route: standby\n{sql}\n")
    assert fragment in problem


def test_a_second_route_line_is_an_error() -> None:
    """One declaration per query, so a reader sees the one that counts."""
    text = "-- name: users__q :one\n-- route: standby\n-- route: primary\nSELECT 1\n"
    assert _problem(text) == "3: second `-- route:` line (first at line 2)"


def test_a_route_line_after_the_sql_is_an_ordinary_comment() -> None:
    """Comments inside the statement are the SQL's own, not declarations."""
    query = _load("-- name: users__q :one\nSELECT 1\n-- route: standby\n")
    assert isinstance(query, Query)
    assert not query.standby


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id, email FROM users WHERE id = $1",
        "WITH recent AS (SELECT id FROM users ORDER BY id DESC LIMIT 10) SELECT * FROM recent",
        "SELECT count(*) FROM users WHERE lower(email) LIKE $1",
        "SELECT u.id FROM users u JOIN orders o ON o.user_id = u.id WHERE o.total > $1",
    ],
)
def test_plain_reads_pass(sql: str) -> None:
    """Joins, CTEs that only read, and allowed built-ins are reads."""
    assert not_a_pure_read(sql) is None


def test_every_variant_of_a_routed_template_must_be_a_read() -> None:
    """A template is checked per variant, when the variant is first rendered."""
    template = _load(
        "-- name: users__search :many\n-- route: standby\n"
        "SELECT id FROM users ORDER BY {{ sort: id | name => username }}"
        "{{ if locked }} FOR UPDATE{{ end }}\n"
    )
    assert isinstance(template, Template)
    query, _ = template.render(sort="id", locked=None)
    assert query.standby
    with pytest.raises(TemplateError, match="locks rows"):
        template.render(sort="id", locked=True)


def test_the_standby_url_asks_for_a_standby_and_the_primary_url_for_writes() -> None:
    """Two URLs over the same host list: the pools differ only in what session they accept."""
    settings = PostgresSettings.model_validate(
        {"host": "10.0.0.1,10.0.0.2:5433", "user": "u", "password": "p", "db": "d"}
        | {"standby_reads": True}
    )
    primary = settings.dsn().get_secret_value()
    standby = settings.dsn(standby=True).get_secret_value()
    assert "target_session_attrs=read-write" in primary
    assert "target_session_attrs=standby" in standby
    assert primary.replace("read-write", "standby") == standby
