"""goose's SQL grammar (PG-3): cases taken from pressly/goose internal/sqlparser/parser_test.go."""

from __future__ import annotations

import pytest

from svcinfra.postgres.migrate import (
    MigrationParseError,
    ends_with_semicolon,
    parse_direction,
    parse_sql,
)
from svcinfra.postgres.migrate._envsub import EnvsubError, substitute

# --- goose's TestSemicolons table, and the quoted "--" lines of goose issue #699 ---------------
# goose v3.21 (and every release since) does not track quotes in endsWithSemicolon: the scan stops
# at the first word starting with "--", wherever it stands, so a quoted "--" hides the ";".
SEMICOLONS = [
    ("END;", True),
    ("END; -- comment", True),
    ("END   ; -- comment", True),
    ("END -- comment", False),
    ("END -- comment ;", False),
    ('END " ; " -- comment', False),
    ("END;--comment", False),  # one word, ending in "t" (observed: "missing semicolon?")
    ("END; --comment ;", True),
    ("END;-- comment", False),
    # goose issue #699: "--" inside a literal still ends the scan when a word starts with it
    ("COMMENT='Look at this cool arrow -->';", False),
    ("COMMENT='Look at this cool arrow -->'; -- trailing", False),
    ('COMMENT="arrow -->";', False),
    ("COMMENT=`arrow -->`;", False),
    ("VALUES ('a -- b');", False),
    # ...but a word that only contains "--" is not a comment start
    ("SELECT '-- not a comment';", True),
    ("SELECT 'a--b';", True),
    # a line closing a multi-line string, then a trailing comment: the ";" counts
    ("line', 'x'); -- trailing note", True),
]


@pytest.mark.parametrize(("line", "expected"), SEMICOLONS, ids=[s[0] for s in SEMICOLONS])
def test_statement_end_detection_matches_goose(line: str, *, expected: bool) -> None:
    """A line ends a statement exactly when goose's endsWithSemicolon says so (issue #699)."""
    assert ends_with_semicolon(line) is expected


# --- goose's TestSplitStatements fixtures -------------------------------------------------------
MULTILINE = """-- +goose Up
CREATE TABLE post (
\t\tid int NOT NULL,
\t\ttitle text,
\t\tbody text,
\t\tPRIMARY KEY(id)
);                  -- 1st stmt

-- comment
SELECT 2;           -- 2nd stmt
SELECT 3; SELECT 3; -- 3rd stmt
SELECT 4;           -- 4th stmt

-- +goose Down
-- comment
DROP TABLE post;    -- 1st stmt
"""

FUNCTXT = """-- +goose Up
CREATE TABLE IF NOT EXISTS histories (
\tid                BIGSERIAL  PRIMARY KEY,
\tcurrent_value     varchar(2000) NOT NULL,
\tcreated_at      timestamp with time zone  NOT NULL
);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION histories_partition_creation( DATE, DATE )
returns void AS $$
DECLARE
\tcreate_query text;
BEGIN
\tFOR create_query IN SELECT
\t\t\t'CREATE TABLE IF NOT EXISTS histories_'
\t\t\t|| TO_CHAR( d, 'YYYY_MM' )
\t\t\t|| ' ( CHECK( created_at >= timestamp '''
\t\tFROM generate_series( $1, $2, '1 month' ) AS d
\tLOOP
\t\tEXECUTE create_query;
\tEND LOOP;  -- LOOP END
END;         -- FUNCTION END
$$
language plpgsql;
-- +goose StatementEnd

-- +goose Down
drop function histories_partition_creation(DATE, DATE);
drop TABLE histories;
"""

MYSQL_DELIMITER = """
-- +goose Up
-- +goose StatementBegin
DELIMITER |
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION my_func( str CHAR(255) ) RETURNS CHAR(255) DETERMINISTIC
BEGIN
  RETURN "Dummy Body";
END |
-- +goose StatementEnd

-- +goose StatementBegin
DELIMITER ;
-- +goose StatementEnd

select my_func("123") from dual;
-- +goose Down
"""

COPY_FROM_STDIN = """
-- +goose Up
-- +goose StatementBegin
COPY public.django_content_type (id, app_label, model) FROM stdin;
1\tadmin\tlogentry
2\tauth\tpermission
\\.
-- +goose StatementEnd
"""

PLPGSQL = """
-- +goose Up
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION update_updated_at_column()
RETURNS TRIGGER AS $$
BEGIN
    NEW.updated_at = now();
    RETURN NEW;
END;
$$ language 'plpgsql';
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER t BEFORE UPDATE ON properties FOR EACH ROW EXECUTE PROCEDURE f();
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
DROP TRIGGER update_properties_updated_at
-- +goose StatementEnd
-- +goose StatementBegin
DROP FUNCTION update_updated_at_column()
-- +goose StatementEnd
"""

COMMENT_ARROW = """-- +goose Up
CREATE TABLE t1 (
    c1 INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    c2 VARCHAR(100))
ENGINE=InnoDB
COMMENT='Look at this cool arrow -->';

CREATE TABLE t2 (
    c1 INT NOT NULL AUTO_INCREMENT PRIMARY KEY,
    c2 VARCHAR(100))
ENGINE=InnoDB;

-- +goose Down
DROP TABLE t2;
DROP TABLE t1;
"""

SPLITS = [
    ("multiline", MULTILINE, 4, 1),
    ("empty", "-- +goose Up\n-- This is just a comment", 0, 0),
    ("empty2", "\n\n-- comment\n-- +goose Up\n\n-- comment\n-- +goose Down\n\n", 0, 0),
    ("functxt", FUNCTXT, 2, 2),
    ("mysql_delimiter", MYSQL_DELIMITER, 4, 0),
    ("copy_from_stdin", COPY_FROM_STDIN, 1, 0),
    ("plpgsql", PLPGSQL, 2, 2),
    # goose #699: the "-->" word hides the ";", so both CREATEs are one statement
    ("comment_arrow", COMMENT_ARROW, 1, 2),
]


@pytest.mark.parametrize(
    ("text", "up", "down"), [s[1:] for s in SPLITS], ids=[s[0] for s in SPLITS]
)
def test_statement_counts_match_goose(text: str, up: int, down: int) -> None:
    """Each goose fixture splits into as many Up and Down statements as goose's test expects."""
    parsed = parse_sql(text, env={})
    assert (len(parsed.up), len(parsed.down)) == (up, down)


def test_statements_are_trimmed_keep_inner_comments_and_drop_leading_ones() -> None:
    """Leading comments are dropped, inner ones kept, each statement trimmed, lines numbered."""
    parsed = parse_sql(MULTILINE, env={})
    assert [s.sql for s in parsed.up] == [
        (
            "CREATE TABLE post (\n\t\tid int NOT NULL,\n\t\ttitle text,\n\t\tbody text,\n"
            "\t\tPRIMARY KEY(id)\n);                  -- 1st stmt"
        ),
        "SELECT 2;           -- 2nd stmt",
        "SELECT 3; SELECT 3; -- 3rd stmt",
        "SELECT 4;           -- 4th stmt",
    ]
    assert [s.line for s in parsed.up] == [2, 10, 11, 12]
    assert [(s.sql, s.line) for s in parsed.down] == [("DROP TABLE post;    -- 1st stmt", 16)]


def test_statement_block_is_one_statement_without_its_annotations() -> None:
    """StatementBegin/End makes one statement whatever its semicolons; annotations stay out."""
    parsed = parse_sql(FUNCTXT, env={})
    function = parsed.up[1]
    assert function.line == 9
    assert function.sql.startswith("CREATE OR REPLACE FUNCTION histories_partition_creation")
    assert function.sql.endswith("$$\nlanguage plpgsql;")
    assert "+goose" not in function.sql


def test_no_transaction_applies_to_the_whole_file() -> None:
    """`NO TRANSACTION` anywhere in the file turns transactions off for both directions."""
    text = "-- +goose Up\nCREATE INDEX CONCURRENTLY i ON t (c);\n-- +goose Down\n"
    assert parse_sql(text, env={}).use_tx is True
    assert parse_sql(text + "-- +goose NO TRANSACTION\n", env={}).use_tx is False


@pytest.mark.parametrize(
    "annotation",
    ["-- +goose up", "--+goose UP", "-- +goose   Up \t", "-- +goose uP"],
    ids=["lower", "no-space", "padded", "mixed-case"],
)
def test_annotations_are_case_insensitive(annotation: str) -> None:
    """Annotations match case-insensitively, with any spacing around the words."""
    assert parse_sql(f"{annotation}\nSELECT 1;\n", env={}).up[0].sql == "SELECT 1;"


STATEMENT_BEGIN_NO_END = (
    "-- +goose Up\nCREATE TABLE h (id int);\n\n-- +goose StatementBegin\n"
    "CREATE FUNCTION f() RETURNS void AS $$ BEGIN END; $$ LANGUAGE plpgsql;\n\n"
    "-- +goose Down\ndrop function f();\n"
)
ERRORS = [
    ("begin_without_end", STATEMENT_BEGIN_NO_END, 7, "inside the StatementBegin of line 4"),
    ("unfinished", "\n-- +goose Up\nALTER TABLE post\n\n-- +goose Down\n", 3, "missing semicolon"),
    ("no_annotations", "\nCREATE TABLE post (\n    id int\n);\n", 2, "SQL before '-- +goose Up'"),
    ("duplicate_up", "-- +goose Up\nSELECT 1;\n-- +goose Down\n-- +goose Up\n", 4, "duplicate"),
    ("down_first", "-- +goose Down\nDROP TABLE fancier_post;\n", 1, "before '-- +goose Up'"),
    ("empty_file", "\n\n-- nothing\n", 1, "no '-- +goose Up'"),
    ("unknown", "-- +goose Up\n-- +goose Sideways\n", 2, "unknown annotation 'Sideways'"),
    ("empty_annotation", "-- +goose\n", 1, "empty '-- +goose' annotation"),
    ("leading_space", " -- +goose Up\n", 1, "must start at column 1"),
    ("leading_tab", "-- +goose Up\n\t-- +goose Down\n", 2, "must start at column 1"),
    ("two_annotations", "-- +goose +goose Up\n", 1, "more than one '+goose'"),
    ("end_without_begin", "-- +goose Up\n-- +goose StatementEnd\n", 2, "without a StatementBegin"),
    (
        "nested_begin",
        "-- +goose Up\n-- +goose StatementBegin\n-- +goose StatementBegin\n",
        3,
        "nested",
    ),
    (
        "eof_in_block",
        "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n",
        2,
        "no '-- +goose Statem",
    ),
    ("unfinished_down", "-- +goose Up\n-- +goose Down\nDROP TABLE x\n", 3, "missing semicolon"),
    ("comment_mentions_goose", "-- +goose Up\n-- see the +goose docs\n", 2, "unknown annotation"),
]


@pytest.mark.parametrize(
    ("text", "line", "message"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_grammar_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    """Every grammar violation goose rejects is rejected here, with the file and the line."""
    with pytest.raises(MigrationParseError) as caught:
        parse_sql(text, source="00001_x.sql", env={})
    assert caught.value.line == line
    assert message in str(caught.value)
    assert str(caught.value).startswith(f"00001_x.sql:{line}: ")


def test_empty_statement_block_swallows_the_next_line_as_goose_does() -> None:
    """An empty StatementBegin/End block makes goose emit an empty statement and drop a line."""
    text = "-- +goose Up\n-- +goose StatementBegin\n-- +goose StatementEnd\nSELECT 1;\nSELECT 2;\n"
    assert [s.sql for s in parse_sql(text, env={}).up] == ["", "SELECT 2;"]


# --- ENVSUB: goose's testdata/envsub/test02 and mfridman/interpolate's own tests -------------
# goose's internal/sqlparser/testdata/envsub/test02/input.sql and its golden files (v3.21.1): the
# `$$` of the function body sits outside the ENVSUB ON lines, so it survives.
ENVSUB_FILE = """-- +goose Up

-- +goose ENVSUB ON
CREATE TABLE post (
\tid int NOT NULL,
\ttitle text,
\t$GOOSE_ENV_NAME text,
\t${GOOSE_ENV_NAME}title3 text,
\t${ANOTHER_VAR:-default}title4 text,
\t${GOOSE_ENV_SET_BUT_EMPTY_VALUE-default}title5 text,
);
-- +goose ENVSUB OFF

CREATE TABLE post (
\tid int NOT NULL,
\ttitle text,
\t$GOOSE_ENV_NAME text,
\t${GOOSE_ENV_NAME}title3 text,
\t${ANOTHER_VAR:-default}title4 text,
\t${GOOSE_ENV_SET_BUT_EMPTY_VALUE-default}title5 text,
);

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION test_func()
RETURNS void AS $$
-- +goose ENVSUB ON
BEGIN
\tRAISE NOTICE '${GOOSE_ENV_NAME} \\$GOOSE_ENV_NAME \\$GOOSE_ENV_NAME';
END;
-- +goose ENVSUB OFF
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
"""
ENV = {"GOOSE_ENV_REGION": "us_east_", "GOOSE_ENV_SET_BUT_EMPTY_VALUE": "", "GOOSE_ENV_NAME": "foo"}
_COLUMNS = "\tid int NOT NULL,\n\ttitle text,\n"


def test_envsub_sections_match_goose_golden_files() -> None:
    """ENVSUB ON/OFF substitute per line exactly as goose's test02 golden files show."""
    up = [s.sql for s in parse_sql(ENVSUB_FILE, env=ENV).up]
    assert up == [
        (
            f"CREATE TABLE post (\n{_COLUMNS}\tfoo text,\n\tfootitle3 text,\n"
            "\tdefaulttitle4 text,\n\ttitle5 text,\n);"
        ),
        (
            f"CREATE TABLE post (\n{_COLUMNS}\t$GOOSE_ENV_NAME text,\n"
            "\t${GOOSE_ENV_NAME}title3 text,\n\t${ANOTHER_VAR:-default}title4 text,\n"
            "\t${GOOSE_ENV_SET_BUT_EMPTY_VALUE-default}title5 text,\n);"
        ),
        (
            "CREATE OR REPLACE FUNCTION test_func()\nRETURNS void AS $$\nBEGIN\n"
            "\tRAISE NOTICE 'foo $GOOSE_ENV_NAME $GOOSE_ENV_NAME';\nEND;\n$$ LANGUAGE plpgsql;"
        ),
    ]


def test_envsub_turns_dollar_dollar_into_dollar() -> None:
    """Under ENVSUB ON `$$` is interpolate's escaped `$`: a dollar-quoted body breaks (issue 15)."""
    text = (
        "-- +goose Up\n-- +goose ENVSUB ON\n-- +goose StatementBegin\n"
        "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n"
        "-- +goose StatementEnd\n"
    )
    assert parse_sql(text, env={}).up[0].sql == (
        "CREATE FUNCTION f() RETURNS int AS $ SELECT 1 $ LANGUAGE sql;"
    )


def test_envsub_required_variable_error_names_the_line() -> None:
    """`${VAR?message}` of an unset variable fails with goose's message and the line."""
    text = (
        "-- +goose ENVSUB ON\n-- +goose Up\nCREATE TABLE p (\n"
        "  ${SOME_UNSET_VAR?required env var not set} text\n);\n"
    )
    with pytest.raises(MigrationParseError) as caught:
        parse_sql(text, source="7_x.sql", env={})
    assert caught.value.line == 4
    assert "$SOME_UNSET_VAR: required env var not set" in str(caught.value)


def test_envsub_is_off_by_default() -> None:
    """Without ENVSUB ON, `${VAR}` reaches the database untouched."""
    assert parse_sql("-- +goose Up\nSELECT '${X}';\n", env={"X": "y"}).up[0].sql == "SELECT '${X}';"


INTERPOLATE = {
    "TEST1": "A test",
    "TEST2": "Another",
    "TEST3": "Llamas",
    "DAY": "Blarghday",
    "EMPTY_DAY": "",
}
COMMIT = {"BUILDKITE_COMMIT": "1adf998e39f647b4b25842f107c6ed9d30a3a7c7"}
EXPANSIONS = [
    ("", "", {}),
    ("$TEST1", "A test", INTERPOLATE),
    ("${TEST1}, ${Test2}, ${tEST3}", "A test, , ", INTERPOLATE),
    ("my$TEST1", "myA test", INTERPOLATE),
    ("${TEST5:-${TEST6:-$TEST1}}", "A test", INTERPOLATE),
    (
        "${TEST5:-Some text ${TEST2:-$TEST1} with $TEST3}",
        "Some text Another with Llamas",
        INTERPOLATE,
    ),
    ("Today is ${TODAY-Tuesday}", "Today is Tuesday", INTERPOLATE),
    ("Today is ${DAY-Wednesday}", "Today is Blarghday", INTERPOLATE),
    ("Today is ${EMPTY_DAY-Wednesday}", "Today is ", INTERPOLATE),
    ("Today is ${EMPTY_DAY:-Wednesday}", "Today is Wednesday", INTERPOLATE),
    ("${EMPTY_DAY:--:{}}", "-:{}", INTERPOLATE),
    ("${EMPTY:-127}", "127", INTERPOLATE),
    ("Do this \\$ESCAPE_PARTY", "Do this $ESCAPE_PARTY", {}),
    ("Do this \\${SUCH_ESCAPE}", "Do this ${SUCH_ESCAPE}", {}),
    ("AS $$ body $$", "AS $ body $", {}),
    ("${SET-${ALSO?only if used}} ok", "x ok", {"SET": "x"}),
    ("${SET:-${ALSO?only if used}}", "x", {"SET": "x"}),
    ("$(echo hello world)", "$(echo hello world)", {}),
    ("cost: 5$", "cost: 5$", {}),
    ("${BUILDKITE_COMMIT:7}", "e39f647b4b25842f107c6ed9d30a3a7c7", COMMIT),
    ("${BUILDKITE_COMMIT: -7}", "0a3a7c7", COMMIT),
    ("${BUILDKITE_COMMIT: -128}", COMMIT["BUILDKITE_COMMIT"], COMMIT),
    ("${BUILDKITE_COMMIT:128}", "", COMMIT),
    ("${BUILDKITE_COMMIT:7:7}", "e39f647", COMMIT),
    ("${BUILDKITE_COMMIT:7:-7}", "e39f647b4b25842f107c6ed9d3", COMMIT),
    ("${BUILDKITE_COMMIT:0:-128}", "", COMMIT),
    ("${BUILDKITE_COMMIT:0:128}", COMMIT["BUILDKITE_COMMIT"], COMMIT),
]


@pytest.mark.parametrize(
    ("text", "expected", "env"), EXPANSIONS, ids=[e[0] or "empty" for e in EXPANSIONS]
)
def test_envsub_expansions_match_interpolate(text: str, expected: str, env: dict[str, str]) -> None:
    """Each expansion gives what mfridman/interpolate's tests expect."""
    assert substitute(text, env) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("$1 burgers", "Expected identifier to start with a letter, got 1"),
        ("${REQUIRED_VAR?}", "$REQUIRED_VAR: not set"),
        ("${REQUIRED_VAR?y u no set me? :-{}", "$REQUIRED_VAR: y u no set me? :-{"),
        ("${X:?err}", 'Unable to parse offset: strconv.Atoi: parsing "?err"'),
        ("${X", "Expected an operator, got EOF"),
        ("${X:abc}", "Unable to parse offset"),
        ("${REQUIRED_VAR?} $1", "start with a letter, got 1"),
    ],
    ids=[
        "digit",
        "required",
        "required-message",
        "colon-question",
        "unclosed",
        "bad-offset",
        "parsed-before-expanded",
    ],
)
def test_envsub_rejects_what_interpolate_rejects(text: str, message: str) -> None:
    """Malformed expansions and unset required variables are errors, with a specific message."""
    with pytest.raises(EnvsubError) as caught:
        substitute(text, {})
    assert message in str(caught.value)


def test_one_direction_parses_as_goose_cli_does() -> None:
    """goose's CLI parses only the direction it runs: a broken Down part does not stop `up`.

    `parse_sql` (both directions, as goose's Provider and our runner) refuses the file.
    """
    text = "-- +goose Up\nSELECT 1;\n-- +goose Down\nDELETE FROM t\n"
    statements, use_tx = parse_direction(text, up=True, env={})
    assert ([s.sql for s in statements], use_tx) == (["SELECT 1;"], True)
    with pytest.raises(MigrationParseError, match="missing semicolon"):
        parse_direction(text, up=False, env={})
    with pytest.raises(MigrationParseError, match="missing semicolon"):
        parse_sql(text, env={})
