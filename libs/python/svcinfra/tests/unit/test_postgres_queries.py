"""Named queries: the `-- name:` header, the loader's checks and the SQL lexer (PG-6, PG-10)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from pglast import parser as pg_parser

from svcinfra.postgres import QueryKind, QueryLoadError, UnknownQuery, load_queries
from svcinfra.postgres._loader import parse_file
from svcinfra.postgres._query import HeaderError, parse_header
from svcinfra.postgres._session import CLEAN_FUNCTIONS, session_effects
from svcinfra.postgres._sqltext import LexError, Tok, tokens

ASSETS = Path(__file__).parents[1] / "assets" / "queries"


@pytest.fixture(autouse=True)
def _fixture_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the fixture services importable, as an installed service package would be."""
    monkeypatch.syspath_prepend(str(ASSETS))
    for name in ("good_service", "bad_service"):
        sys.modules.pop(name, None)


@pytest.mark.parametrize(
    ("line", "name", "kind"),
    [
        ("-- name: users__get_by_id :one", "users__get_by_id", QueryKind.ONE),
        ("-- name: users__list :many   ", "users__list", QueryKind.MANY),
        ("  -- name:  Users__Delete2   :exec", "Users__Delete2", QueryKind.EXEC),
        ("-- name: order_items__block_all :execrows", "order_items__block_all", QueryKind.EXECROWS),
    ],
    ids=["one", "trailing-space", "spacing-and-case", "execrows"],
)
def test_header_parses(line: str, name: str, kind: QueryKind) -> None:
    """A well-formed header gives its name, model, operation and kind."""
    header = parse_header(line)
    assert header is not None
    assert (header.name, header.kind) == (name, kind)
    assert f"{header.model}__{header.operation}" == name


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("--name: users__get :one", "malformed header"),
        ("-- NAME: users__get :one", "malformed header"),
        ("-- name: users__get", "no command"),
        ("-- name: users__get :one extra", "unexpected text"),
        ("-- name: users-get :one", "not an identifier"),
        ("-- name: usersget :one", "not <model>__<operation>"),
        ("-- name: __get :one", "not <model>__<operation>"),
        ("-- name: users__ :one", "no operation"),
        ("-- name: users__get :execresult", "not supported"),
        ("-- name: users__get :copyfrom", "not supported"),
        ("-- name: users__get :first", "unknown command"),
        ("-- name: users__get one", "unknown command"),
    ],
    ids=[
        "no-space",
        "upper-case",
        "no-command",
        "extra-token",
        "dash",
        "no-model-separator",
        "empty-model",
        "empty-operation",
        "execresult",
        "copyfrom",
        "unknown-command",
        "no-colon",
    ],
)
def test_header_errors_say_what_is_wrong(line: str, fragment: str) -> None:
    """A line meant as a header but off the grammar raises an error naming the broken part."""
    with pytest.raises(HeaderError, match=fragment):
        parse_header(line)


@pytest.mark.parametrize(
    "line",
    ["SELECT 1", "-- a comment", "-- names: x", "", "--"],
    ids=["sql", "comment", "other-word", "empty", "bare-dashes"],
)
def test_header_ignores_other_lines(line: str) -> None:
    """Lines that are not meant as a header are not headers."""
    assert parse_header(line) is None


_IDENT = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
_OPERATION = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_]{0,12}", fullmatch=True)


@given(
    model=_IDENT.filter(lambda m: "__" not in m and not m.endswith("_")),
    operation=_OPERATION,
    kind=st.sampled_from(list(QueryKind)),
    before=st.sampled_from(["", " ", "\t"]),
    after=st.sampled_from(["", " ", "  \t"]),
)
def test_header_round_trips(
    model: str, operation: str, kind: QueryKind, before: str, after: str
) -> None:
    """Any valid model, operation and kind written as a header parses back to the same parts."""
    header = parse_header(f"{before}-- name: {model}__{operation} {kind}{after}")
    assert header is not None
    assert (header.model, header.operation, header.kind) == (model, operation, kind)


@given(st.text(max_size=60))
def test_header_parser_never_crashes(line: str) -> None:
    """Any text is a header, not a header, or a HeaderError; nothing else escapes."""
    try:
        header = parse_header(line)
    except HeaderError:
        return
    if header is not None:
        assert header.name in line


def test_good_service_loads_every_file() -> None:
    """The loader reads every query of a package through importlib.resources."""
    queries = load_queries("good_service")
    assert len(queries) == 22
    get = queries.query("users__get_by_id")
    assert (get.model, get.operation, get.kind, get.parameters) == (
        "users",
        "get_by_id",
        QueryKind.ONE,
        1,
    )
    assert get.source == "good_service/repository/postgres/users/sql/get_by_id.sql"
    assert get.sql.startswith("-- name: users__get_by_id :one")
    assert "users__search" in queries


def test_unknown_names_fail_at_lookup() -> None:
    """Asking for a query that was not loaded fails at once, with a hint when the kind differs."""
    queries = load_queries("good_service")
    with pytest.raises(UnknownQuery, match="it is a template"):
        queries.query("users__search")
    with pytest.raises(UnknownQuery, match="it is a plain query"):
        queries.template("users__get_by_id")
    with pytest.raises(UnknownQuery, match="users__nope"):
        queries.query("users__nope")


BAD = "bad_service/repository/postgres"
EXPECTED_PROBLEMS = [
    (f"{BAD}/orders/sql/k_header_after_sql.sql", 2, "must come before the SQL"),
    (f"{BAD}/orders/sql/l_unsafe_choice.sql", 2, "must be a plain fragment"),
    (f"{BAD}/orders/sql/m_not_utf8.sql", 1, "not UTF-8"),
    (f"{BAD}/orders/sql/n_syntax.sql", 4, "PostgreSQL's parser rejects the statement: syntax"),
    (f"{BAD}/users/sql/a_malformed.sql", 1, "malformed header"),
    (f"{BAD}/users/sql/b_wrong_model.sql", 1, "lives in folder 'users'"),
    (f"{BAD}/users/sql/c_dup_two.sql", 1, "duplicate query name users__dup"),
    (f"{BAD}/users/sql/d_gap.sql", 4, "placeholders skip $2"),
    (f"{BAD}/users/sql/e_two_headers.sql", 3, "second `-- name:` header"),
    (f"{BAD}/users/sql/f_no_header.sql", 1, "no `-- name:"),
    (f"{BAD}/users/sql/g_unsupported_kind.sql", 1, ":execresult is not supported"),
    (f"{BAD}/users/sql/h_interpolated_value.sql", 4, "would interpolate a value"),
    (f"{BAD}/users/sql/i_two_statements.sql", 1, "one statement per file"),
    (f"{BAD}/users/sql/j_unterminated.sql", 2, "unterminated string literal"),
]


def test_bad_service_reports_every_problem_with_file_and_line() -> None:
    """Every broken file is reported at once, each with its file and line; nothing is loaded."""
    with pytest.raises(QueryLoadError) as caught:
        load_queries("bad_service")
    found = [(p.file, p.line) for p in caught.value.problems]
    assert found == [(file, line) for file, line, _ in EXPECTED_PROBLEMS]
    for problem, (_, _, fragment) in zip(caught.value.problems, EXPECTED_PROBLEMS, strict=True):
        assert fragment in problem.message
        assert str(problem) in str(caught.value)


def test_missing_query_folder_is_an_error() -> None:
    """A package without `repository/postgres` fails to load, naming the folder."""
    with pytest.raises(QueryLoadError, match="good_service/nowhere:0: no such folder"):
        load_queries("good_service", root="nowhere")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT '$2', $1 -- $3\n/* $4 /* nested $5 */ */", 1),
        ('SELECT "$2", $1, $$ $7 $$', 1),
        ("SELECT $tag$ $9 $tag$, $2, $1", 2),
        ("SELECT E'it\\'s $5', $1", 1),
        ("SELECT 'it''s $5', $1", 1),
        ("SELECT 1", 0),
    ],
    ids=[
        "string-and-comments",
        "identifier-and-dollar",
        "tagged-dollar",
        "escape",
        "doubled",
        "none",
    ],
)
def test_placeholders_in_literals_and_comments_are_not_counted(sql: str, expected: int) -> None:
    """Only `$n` in code counts; literals, quoted identifiers, dollar bodies and comments do not."""
    query = parse_file(f"-- name: m__q :one\n{sql}", source="f.sql")
    assert query.parameters == expected


@pytest.mark.parametrize(
    ("sql", "effects"),
    [
        ("SET application_name TO 'x'", True),
        ("set search_path = public", True),
        ("SET LOCAL statement_timeout = 100", False),
        ("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", False),
        ("UPDATE users SET name = $1", False),
        ("INSERT INTO t VALUES (1) ON CONFLICT (id) DO UPDATE SET v = 2", False),
        ("SELECT pg_advisory_lock($1)", True),
        ("SELECT pg_try_advisory_lock($1)", True),
        ("SELECT pg_advisory_xact_lock($1)", False),
        ("SELECT set_config('a.b', $1, false)", True),
        ("LISTEN jobs", True),
        ("RESET ALL", True),
        ("CREATE TEMP TABLE x (id int)", True),
        ("SELECT 'SET x' -- LISTEN y", False),
        ("SELECT app_login($1)", True),
        ("SELECT 1 AS x INTO TEMP TABLE scratch", True),
        ("CREATE LOCAL TEMP TABLE x (id int)", True),
        ("DO $$BEGIN PERFORM set_config('a.b', 'c', false); END$$", True),
        ("CALL p($1)", True),
        ("SELECT set_config('a.b', $1, $2)", True),
        ("SELECT pg_catalog.set_config('a.b', $1, true)", False),
        ("SELECT * FROM t WHERE a OPERATOR(public.===) b", True),
        ("SELECT * FROM pg_temp.t", True),
        ("WITH d AS (DELETE FROM t RETURNING id) INSERT INTO a SELECT id FROM d", False),
        ("SELECT lower(x), count(*) FROM t GROUP BY 1", False),
        ("SELECT lower(f(x)) FROM t", True),
        ("SELECT FROM WHERE (", True),
    ],
    ids=[
        "set",
        "set-lower",
        "set-local",
        "set-transaction",
        "update-set",
        "upsert-set",
        "advisory-lock",
        "try-advisory-lock",
        "xact-lock",
        "set-config",
        "listen",
        "reset",
        "temp-table",
        "in-literal-and-comment",
        "user-function",
        "select-into-temp",
        "local-temp",
        "do",
        "call",
        "set-config-not-constant",
        "set-config-local-qualified",
        "schema-operator",
        "pg-temp-schema",
        "data-modifying-cte",
        "built-ins",
        "user-function-nested",
        "unparsable",
    ],
)
def test_session_effects_are_detected(sql: str, effects: bool) -> None:  # noqa: FBT001  (parametrized)
    """Statements whose effect may outlive the transaction mark the query (PostgreSQL's parser
    decides, so words in literals and comments do not count); the others do not (PG-5)."""
    assert session_effects(sql) is effects


@given(st.text(alphabet="ab$1'\"-*/ \n;@{}", max_size=40))
def test_lexer_splits_or_says_where_it_fails(text: str) -> None:
    """Any text either splits into tokens that rebuild it exactly, or raises a LexError."""
    try:
        pieces = list(tokens(text, template=True))
    except LexError as exc:
        line = exc.line
        assert line >= 1
        return
    assert "".join(piece.text for piece in pieces) == text
    assert all(piece.kind in Tok for piece in pieces)


# Places a function call can sit in a statement the classifier otherwise calls clean.
_PLACES = [
    "SELECT {call}",
    "SELECT id FROM t WHERE id = {call}",
    "SELECT * FROM {call} AS r",
    "SELECT id FROM t ORDER BY {call}",
    "SELECT count(*) FROM t GROUP BY id HAVING count(*) > {call}",
    "SELECT (SELECT {call})",
    "SELECT id FROM t WHERE EXISTS (SELECT 1 FROM u WHERE u.id = {call})",
    "WITH c AS (SELECT {call} AS v) SELECT v FROM c",
    "WITH d AS (DELETE FROM t WHERE id = {call} RETURNING id) SELECT * FROM d",
    "INSERT INTO t (id) VALUES ({call})",
    "INSERT INTO t (id) SELECT {call}",
    "INSERT INTO t (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET v = {call}",
    "INSERT INTO t (id) VALUES (1) RETURNING {call}",
    "UPDATE t SET v = {call} WHERE id = $1",
    "UPDATE t SET v = 1 FROM u WHERE u.id = {call}",
    "DELETE FROM t WHERE id = {call}",
    "DELETE FROM t USING u WHERE u.id = t.id RETURNING {call}",
    "MERGE INTO t USING u ON t.id = u.id WHEN MATCHED THEN UPDATE SET v = {call}",
    "SELECT CASE WHEN $1 THEN {call} ELSE 0 END",
    "SELECT coalesce({call}, 0)",
    "SELECT sum(id) FILTER (WHERE id > {call}) FROM t",
    "SELECT row_number() OVER (PARTITION BY {call}) FROM t",
    "SELECT ARRAY[{call}]",
    "SELECT ({call})::text",
    "EXPLAIN SELECT {call}",
    "VALUES ({call})",
]
_IDENT = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True)


@given(
    place=st.sampled_from(_PLACES),
    name=_IDENT.filter(lambda n: n not in CLEAN_FUNCTIONS),
    schema=st.sampled_from(["", "public.", "app."]),
)
def test_a_function_off_the_allow_list_is_dirty_wherever_it_is_called(
    place: str, name: str, schema: str
) -> None:
    """Any function not on the reviewed allow-list (every user-defined one) makes the query
    dirty, wherever in the statement it is called (PG-5).

    Names the grammar reads as a construct of its own (`row(...)`, `grouping(...)`) are left
    out: they call no function."""
    sql = place.format(call=f"{schema}{name}($1)")
    assume(_calls(sql, name))
    assert session_effects(sql) is True


@given(place=st.sampled_from(_PLACES), name=st.sampled_from(sorted(CLEAN_FUNCTIONS)))
def test_the_same_places_with_an_allowed_built_in_are_clean(place: str, name: str) -> None:
    """The statements of the property above are clean with an allow-listed built-in instead:
    the verdict comes from the function, not from where it sits."""
    sql = place.format(call=f"{name}($1)")
    assume(
        _calls(sql, name)
    )  # `extract($1)` is no valid call: the grammar wants `extract(x FROM y)`
    assert session_effects(sql) is False


def _calls(sql: str, name: str) -> bool:
    """Whether PostgreSQL's parser reads `sql` as calling a function named `name`."""
    try:
        tree = pg_parser.parse_sql_json(sql)
    except pg_parser.ParseError:
        return False
    return '"FuncCall":{"funcname":' in tree and f'"sval":"{name}"' in tree
