"""goose v3.21.1 and `svcinfra migrate` side by side: one case per behaviour (issue 15, PG-2, PG-3).

Every case was run first through a real goose v3.21.1 binary (PostgreSQL driver, built from goose's
unmodified source), each on a fresh database holding `CREATE TABLE t (a text, b text)` unless the
case says otherwise: `goose -dir DIR postgres DSN COMMAND` for each command in turn. What goose did
is written down here: its exit status, its stderr (one entry per `log` record, the time prefix cut,
durations as `(T)`, `Mon Jan _2 15:04:05 2006` stamps as `<ANSIC>`, the directory as `{dir}`), and
afterwards the `goose_db_version` versions (by id) and the rows of `t`. goose's stdout was always
empty. The test runs the same files and the same command lines (`svcinfra migrate -dir DIR
postgres DSN COMMAND`) on a fresh database of the real server and asserts the same results: exit
status, versions, rows, and every record word for word, except the detail goose adds after
`failed to parse SQL migration file:` / `failed to run SQL migration:`, where ours names file and
line instead and must carry the same fact (`DETAILS`). Nothing here needs goose.

Where we differ on purpose, the case says so and gives our result (`ours`): a run parses every
file it will run, both directions, before running any, as goose's Provider does
(`provider_run.go`); goose's CLI parses a file only when it reaches it (docs/goose.md).
"""

# ruff: noqa: E501  (goose's observed output is kept verbatim, one record a string)
from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import asyncpg
import pytest
from click.testing import CliRunner

from svcinfra.__main__ import main

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.postgres

_PREFIX = re.compile(r"^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d ")
_ANSIC = re.compile(r"(Mon|Tue|Wed|Thu|Fri|Sat|Sun) [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}")
_DURATION = re.compile(r"\(\d+(\.\d+)?(ns|µs|ms|s|m[\d.]+s|h[\d.m]+s)\)")
_DETAIL = (
    "failed to parse SQL migration file: ",
    "failed to run SQL migration: ",
    "could not parse SQL migration file",
)
# goose's detail after _DETAIL -> what ours must say instead (same fact, with file and line)
DETAILS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"ERROR: (?P<m>.*) \(SQLSTATE (?P<c>\w+)\)$"), "{m} [SQLSTATE {c}]"),
    (
        re.compile(r"variable substitution failed: (?P<m>[^\n]*):\n"),
        "variable substitution failed: {m}",
    ),
    (re.compile(r"missing semicolon\?"), "missing semicolon"),
    (re.compile(r"missing '-- \+goose StatementEnd'"), "has no '-- +goose StatementEnd'"),
    (re.compile(r"contains leading whitespace"), "must start at column 1"),
    (re.compile(r'"(?P<m>[^"]*)" not supported: invalid annotation'), "unknown annotation '{m}'"),
    (re.compile(r"unexpected state 0 on line"), "SQL before '-- +goose Up'"),
    (re.compile(r"timeout: context deadline exceeded"), "timeout: context deadline exceeded"),
    (re.compile(r'/(?P<f>[^"/]+)": '), "{f}"),
    (re.compile(r"stateMachine=4"), "duplicate '-- +goose Down'"),
    (re.compile(r"stateMachine=2"), "inside the StatementBegin"),
    (re.compile(r"StatementEnd' must be defined after"), "without a StatementBegin"),
]


@dataclass(frozen=True)
class Run:
    """One goose command line after `-dir DIR postgres DSN`, and what goose answered."""

    args: list[str]
    exit: int
    stderr: list[str]


@dataclass(frozen=True)
class Outcome:
    """Our results where we differ from goose's CLI on purpose."""

    runs: list[Run]
    versions: list[int] | None
    rows: list[tuple[str, ...]]
    why: str


@dataclass(frozen=True)
class GooseCase:
    """Files, environment and commands; goose's observed answers; the state it left."""

    name: str
    files: dict[str, str]
    runs: list[Run]
    versions: list[int] | None
    rows: list[tuple[str, ...]]
    env: dict[str, str] = field(default_factory=dict)
    pre: str = "CREATE TABLE t (a text, b text)"
    ours: Outcome | None = None


CASES = [
    # issue 15: under ENVSUB ON the file's `$$` becomes `$`; a substituted value's `$$` stays
    GooseCase(
        "envsub_dollar_dollar",
        files={
            "1_a.sql": "-- +goose Up\n-- +goose ENVSUB ON\nINSERT INTO t VALUES ('a$$b', '${GV_SET}');\n"
        },
        env={"GV_SET": "x$$y"},
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
        ],
        versions=[0, 1],
        rows=[("a$b", "x$$y")],
    ),
    # issue 15: a dollar-quoted body under ENVSUB ON reaches PostgreSQL as `$ ... $`
    GooseCase(
        "envsub_dollar_quoted_body",
        files={
            "1_a.sql": "-- +goose Up\n-- +goose ENVSUB ON\n-- +goose StatementBegin\nCREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;\n-- +goose StatementEnd\n"
        },
        runs=[
            Run(
                ["up"],
                1,
                [
                    'goose run: ERROR 1_a.sql: failed to run SQL migration: failed to execute SQL query "CREATE FUNCTION f() RETURNS int AS $ SELECT 1 $ LANGUAGE sql;": ERROR: syntax error at or near "$" (SQLSTATE 42601)'
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "dollar_dollar_outside_envsub",
        files={
            "1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ($$a$$b$$, 'x');\n-- +goose ENVSUB ON\nINSERT INTO t VALUES ('${GV_SET}', 'y');\n"
        },
        env={"GV_SET": "v"},
        runs=[
            Run(
                ["up"],
                1,
                [
                    'goose run: ERROR 1_a.sql: failed to run SQL migration: failed to execute SQL query "INSERT INTO t VALUES ($$a$$b$$, \'x\');": ERROR: syntax error at or near "b$$" (SQLSTATE 42601)'
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    # issue 15, goose #699: `--` in a literal hides the `;`; last before Down: rejected
    GooseCase(
        "comment_in_literal_last_before_down",
        files={
            "1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('a -- b', 'x');\n\n-- +goose Down\nDELETE FROM t;\n"
        },
        runs=[
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 1_a.sql: failed to parse SQL migration file: failed to parse migration: state 1, direction: up: unexpected unfinished SQL query: \"INSERT INTO t VALUES ('a -- b', 'x');\": missing semicolon?"
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "comment_in_literal_last_in_file",
        files={"1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('a -- b', 'x');\n"},
        runs=[
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 1_a.sql: failed to parse SQL migration file: failed to parse migration: state 1, direction: up: unexpected unfinished SQL query: \"INSERT INTO t VALUES ('a -- b', 'x');\": missing semicolon?"
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "comment_in_literal_joins_next",
        files={
            "1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('a -- b', 'x');\nINSERT INTO t VALUES ('c', 'd');\n"
        },
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
        ],
        versions=[0, 1],
        rows=[("a -- b", "x"), ("c", "d")],
    ),
    # issue 15: a multi-line string closed before a trailing comment ends the statement
    GooseCase(
        "multiline_string_trailing_comment",
        files={
            "1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('multi\nline', 'x'); -- trailing note\n"
        },
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
        ],
        versions=[0, 1],
        rows=[("multi\nline", "x")],
    ),
    GooseCase(
        "semicolon_ends_line_inside_string",
        files={"1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('a;\nb', 'x');\n"},
        runs=[
            Run(
                ["up"],
                1,
                [
                    'goose run: ERROR 1_a.sql: failed to run SQL migration: failed to execute SQL query "INSERT INTO t VALUES (\'a;": ERROR: unterminated quoted string at or near "\'a;" (SQLSTATE 42601)'
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "semicolon_mid_line_not_last_word",
        files={
            "1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('a', 'b'); INSERT INTO t VALUES ('c', 'd')\n"
        },
        runs=[
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 1_a.sql: failed to parse SQL migration file: failed to parse migration: state 1, direction: up: unexpected unfinished SQL query: \"INSERT INTO t VALUES ('a', 'b'); INSERT INTO t VALUES ('c', 'd')\": missing semicolon?"
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "semicolon_glued_comment",
        files={"1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('a', 'b');--note\n"},
        runs=[
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 1_a.sql: failed to parse SQL migration file: failed to parse migration: state 1, direction: up: unexpected unfinished SQL query: \"INSERT INTO t VALUES ('a', 'b');--note\": missing semicolon?"
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    # issue 15: an unset ${X?message}; goose's CLI applies 1_a first, we apply nothing (ours)
    GooseCase(
        "envsub_required_unset",
        files={
            "1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('one', 'x');\n",
            "2_b.sql": "-- +goose Up\n-- +goose ENVSUB ON\nINSERT INTO t VALUES ('${GV_UNSET?must be set}', 'x');\n",
            "3_c.sql": "-- +goose Up\nINSERT INTO t VALUES ('three', 'x');\n",
        },
        runs=[
            Run(
                ["up"],
                1,
                [
                    "OK   1_a.sql (T)",
                    "goose run: ERROR 2_b.sql: failed to parse SQL migration file: variable substitution failed: $GV_UNSET: must be set:\nINSERT INTO t VALUES ('${GV_UNSET?must be set}', 'x');",
                ],
            ),
            Run(
                ["status"],
                0,
                [
                    "    Applied At                  Migration",
                    "    =======================================",
                    "    <ANSIC> -- 1_a.sql",
                    "    Pending                  -- 2_b.sql",
                    "    Pending                  -- 3_c.sql",
                ],
            ),
            Run(["version"], 0, ["goose: version 1"]),
        ],
        versions=[0, 1],
        rows=[("one", "x")],
        ours=Outcome(
            runs=[
                Run(
                    ["up"],
                    1,
                    [
                        (
                            "goose run: ERROR 2_b.sql: failed to parse SQL migration file: "
                            "variable substitution failed: $GV_UNSET: must be set:\n"
                        ),
                    ],
                ),
                Run(
                    ["status"],
                    0,
                    [
                        "    Applied At                  Migration",
                        "    =======================================",
                        "    Pending                  -- 1_a.sql",
                        "    Pending                  -- 2_b.sql",
                        "    Pending                  -- 3_c.sql",
                    ],
                ),
                Run(["version"], 0, ["goose: version 0"]),
                Run(
                    ["up-to", "1"],
                    0,
                    [
                        "OK   1_a.sql (T)",
                        "goose: successfully migrated database to version: 1",
                    ],
                ),
                Run(["version"], 0, ["goose: version 1"]),
            ],
            versions=[0, 1],
            rows=[("one", "x")],
            why="goose's Provider parses every pending file before running any; its CLI applies "
            "1_a and stops at 2_b. Ours applies nothing, then up-to 1 below the bad file works.",
        ),
    ),
    GooseCase(
        "envsub_required_empty",
        files={
            "1_a.sql": "-- +goose Up\n-- +goose ENVSUB ON\nINSERT INTO t VALUES ('${GV_EMPTY?must be set}', 'x');\n"
        },
        env={"GV_EMPTY": ""},
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
        ],
        versions=[0, 1],
        rows=[("", "x")],
    ),
    GooseCase(
        "envsub_defaults",
        files={
            "1_a.sql": "-- +goose Up\n-- +goose ENVSUB ON\nINSERT INTO t VALUES ('${GV_EMPTY:-d1}', '${GV_EMPTY-d2}');\nINSERT INTO t VALUES ('${GV_UNSET:-d3}', '${GV_UNSET-d4}');\nINSERT INTO t VALUES ('${GV_SET:1:2}', '${GV_SET: -2}');\nINSERT INTO t VALUES ('\\$GV_SET \\\\ $(x)', 'z$GV_SET');\nINSERT INTO t VALUES ('${GV_UNSET:-${GV_SET:-q}}', 'w') -- last $\n;\n"
        },
        env={"GV_EMPTY": "", "GV_SET": "abcdef"},
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
        ],
        versions=[0, 1],
        rows=[
            ("$GV_SET \\\\ $(x)", "zabcdef"),
            ("abcdef", "w"),
            ("bc", "ef"),
            ("d1", ""),
            ("d3", "d4"),
        ],
    ),
    GooseCase(
        "envsub_positional_param",
        files={
            "1_a.sql": "-- +goose Up\n-- +goose ENVSUB ON\n-- +goose StatementBegin\nCREATE FUNCTION f(int) RETURNS int AS 'SELECT $1' LANGUAGE sql;\n-- +goose StatementEnd\n"
        },
        runs=[
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 1_a.sql: failed to parse SQL migration file: variable substitution failed: Expected identifier to start with a letter, got 1:\nCREATE FUNCTION f(int) RETURNS int AS 'SELECT $1' LANGUAGE sql;"
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "envsub_comment_before_statement",
        files={
            "1_a.sql": "-- +goose Up\n-- +goose ENVSUB ON\n-- costs $1\nINSERT INTO t VALUES ('a', 'b');\n"
        },
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
        ],
        versions=[0, 1],
        rows=[("a", "b")],
    ),
    GooseCase(
        "envsub_comment_inside_statement",
        files={
            "1_a.sql": "-- +goose Up\n-- +goose ENVSUB ON\nINSERT INTO t\n-- costs $1\nVALUES ('a', 'b');\n"
        },
        runs=[
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 1_a.sql: failed to parse SQL migration file: variable substitution failed: Expected identifier to start with a letter, got 1:\n-- costs $1"
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    # issue 15: status, up-to and version below a StatementBegin without StatementEnd
    GooseCase(
        "statementbegin_without_end_later_file",
        files={
            "1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('one', 'x');\n",
            "2_b.sql": "-- +goose Up\nINSERT INTO t VALUES ('two', 'x');\n",
            "3_c.sql": "-- +goose Up\n-- +goose StatementBegin\nINSERT INTO t VALUES ('three', 'x');\n",
        },
        runs=[
            Run(
                ["status"],
                0,
                [
                    "    Applied At                  Migration",
                    "    =======================================",
                    "    Pending                  -- 1_a.sql",
                    "    Pending                  -- 2_b.sql",
                    "    Pending                  -- 3_c.sql",
                ],
            ),
            Run(
                ["up-to", "2"],
                0,
                [
                    "OK   1_a.sql (T)",
                    "OK   2_b.sql (T)",
                    "goose: successfully migrated database to version: 2",
                ],
            ),
            Run(["version"], 0, ["goose: version 2"]),
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 3_c.sql: failed to parse SQL migration file: failed to parse migration: missing '-- +goose StatementEnd' annotation"
                ],
            ),
            Run(
                ["status"],
                0,
                [
                    "    Applied At                  Migration",
                    "    =======================================",
                    "    <ANSIC> -- 1_a.sql",
                    "    <ANSIC> -- 2_b.sql",
                    "    Pending                  -- 3_c.sql",
                ],
            ),
            Run(["version"], 0, ["goose: version 2"]),
        ],
        versions=[0, 1, 2],
        rows=[("one", "x"), ("two", "x")],
    ),
    # issue 15: an applied version whose file is gone is not listed by status
    GooseCase(
        "recorded_version_file_gone",
        files={"1_a.sql": "-- +goose Up\nSELECT 1;\n"},
        pre="CREATE TABLE t (a text, b text); CREATE TABLE goose_db_version (id integer PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp NOT NULL DEFAULT now()); INSERT INTO goose_db_version (version_id, is_applied) VALUES (0, true), (5, true);",
        runs=[
            Run(
                ["status"],
                0,
                [
                    "    Applied At                  Migration",
                    "    =======================================",
                    "    Pending                  -- 1_a.sql",
                ],
            ),
            Run(["version"], 0, ["goose: version 5"]),
            Run(
                ["up"],
                1,
                [
                    "goose run: error: found 1 missing migrations before current version 5:\n\tversion 1: {dir}/1_a.sql"
                ],
            ),
            Run(
                ["status"],
                0,
                [
                    "    Applied At                  Migration",
                    "    =======================================",
                    "    Pending                  -- 1_a.sql",
                ],
            ),
        ],
        versions=[0, 5],
        rows=[],
    ),
    # goose's CLI parses one direction; the Provider and we parse both (ours)
    GooseCase(
        "broken_down_section_up_works",
        files={
            "1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('a', 'b');\n-- +goose Down\nDELETE FROM t\n"
        },
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
            Run(
                ["down"],
                1,
                [
                    'goose run: ERROR 1_a.sql: failed to parse SQL migration file: failed to parse migration: state 4, direction: down: unexpected unfinished SQL query: "DELETE FROM t": missing semicolon?'
                ],
            ),
        ],
        versions=[0, 1],
        rows=[("a", "b")],
        ours=Outcome(
            runs=[
                Run(
                    ["up"],
                    1,
                    [
                        (
                            "goose run: ERROR 1_a.sql: failed to parse SQL migration file: "
                            "unexpected unfinished SQL query: missing semicolon?"
                        ),
                    ],
                ),
                Run(["down"], 1, ["goose run: migration 0: no current version found"]),
            ],
            versions=[0],
            rows=[],
            why="goose's Provider parses both directions before running a file; its CLI parses "
            "the Down part only at `down`, after the Up part is applied and cannot be undone.",
        ),
    ),
    GooseCase(
        "annotation_case_insensitive",
        files={
            "1_a.sql": "-- +GOOSE UP\nINSERT INTO t VALUES ('a', 'b');\n--+goose down\nDELETE FROM t;\n"
        },
        runs=[
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 1_a.sql: failed to parse SQL migration file: failed to parse migration: unexpected state 0 on line \"INSERT INTO t VALUES ('a', 'b');\", see https://github.com/pressly/goose#sql-migrations"
                ],
            ),
            Run(["down"], 1, ["goose run: migration 0: no current version found"]),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "annotation_leading_space",
        files={"1_a.sql": " -- +goose Up\nINSERT INTO t VALUES ('a', 'b');\n"},
        runs=[
            Run(
                ["up"],
                1,
                [
                    'goose run: ERROR 1_a.sql: failed to parse SQL migration file: failed to parse annotation line " -- +goose Up": " -- +goose Up" contains leading whitespace: invalid annotation'
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "annotation_trailing_comment",
        files={"1_a.sql": "-- +goose Up -- create t\nINSERT INTO t VALUES ('a', 'b');\n"},
        runs=[
            Run(
                ["up"],
                1,
                [
                    'goose run: ERROR 1_a.sql: failed to parse SQL migration file: failed to parse annotation line "-- +goose Up -- create t": "Up  create t" not supported: invalid annotation'
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    # goose quirk: an empty Begin/End pair drops the next line
    GooseCase(
        "empty_statement_block",
        files={
            "1_a.sql": "-- +goose Up\n-- +goose StatementBegin\n-- +goose StatementEnd\nINSERT INTO t VALUES ('dropped', 'x');\nINSERT INTO t VALUES ('kept', 'x');\n"
        },
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
        ],
        versions=[0, 1],
        rows=[("kept", "x")],
    ),
    GooseCase(
        "no_transaction_in_down",
        files={
            "1_a.sql": "-- +goose Up\nCREATE INDEX CONCURRENTLY ti ON t (a);\n-- +goose Down\n-- +goose NO TRANSACTION\nDROP INDEX ti;\n"
        },
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
        ],
        versions=[0, 1],
        rows=[],
    ),
    GooseCase(
        "empty_up",
        files={"1_a.sql": "-- +goose Up\n-- +goose Down\nSELECT 1;\n"},
        runs=[
            Run(
                ["up"],
                0,
                ["EMPTY 1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
        ],
        versions=[0, 1],
        rows=[],
    ),
    GooseCase(
        "whitespace_line_keeps_comment",
        files={"1_a.sql": "-- +goose Up\n   \n-- kept comment\nINSERT INTO t VALUES ('a', 'b');\n"},
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
        ],
        versions=[0, 1],
        rows=[("a", "b")],
    ),
    GooseCase(
        "sql_before_up",
        files={"1_a.sql": "SELECT 1;\n-- +goose Up\nSELECT 2;\n"},
        runs=[
            Run(
                ["up"],
                1,
                [
                    'goose run: ERROR 1_a.sql: failed to parse SQL migration file: failed to parse migration: unexpected state 0 on line "SELECT 1;", see https://github.com/pressly/goose#sql-migrations'
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "no_up_annotation",
        files={"1_a.sql": "SELECT 1;\n"},
        runs=[
            Run(
                ["up"],
                1,
                [
                    'goose run: ERROR 1_a.sql: failed to parse SQL migration file: failed to parse migration: unexpected state 0 on line "SELECT 1;", see https://github.com/pressly/goose#sql-migrations'
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "missing_semicolon_at_eof",
        files={"1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('a', 'b')\n"},
        runs=[
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 1_a.sql: failed to parse SQL migration file: failed to parse migration: state 1, direction: up: unexpected unfinished SQL query: \"INSERT INTO t VALUES ('a', 'b')\": missing semicolon?"
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "crlf",
        files={"1_a.sql": "-- +goose Up\r\nINSERT INTO t VALUES ('a', 'b');\r\n"},
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
        ],
        versions=[0, 1],
        rows=[("a", "b")],
    ),
    GooseCase(
        "statement_end_trailing_text",
        files={
            "1_a.sql": "-- +goose Up\n-- +goose StatementBegin\nINSERT INTO t VALUES ('a', 'b');\n-- +goose StatementEnd -- done\n"
        },
        runs=[
            Run(
                ["up"],
                1,
                [
                    'goose run: ERROR 1_a.sql: failed to parse SQL migration file: failed to parse annotation line "-- +goose StatementEnd -- done": "StatementEnd  done" not supported: invalid annotation'
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "up_to_ignores_later_broken",
        files={
            "1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('one', 'x');\n",
            "2_b.sql": "broken\n",
        },
        runs=[
            Run(
                ["up-to", "1"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
            Run(
                ["status"],
                0,
                [
                    "    Applied At                  Migration",
                    "    =======================================",
                    "    <ANSIC> -- 1_a.sql",
                    "    Pending                  -- 2_b.sql",
                ],
            ),
        ],
        versions=[0, 1],
        rows=[("one", "x")],
    ),
    GooseCase(
        "up_no_migrations",
        files={"1_a.sql": "-- +goose Up\nSELECT 1;\n"},
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
            Run(["up"], 0, ["goose: no migrations to run. current version: 1"]),
            Run(
                ["up-by-one"],
                1,
                [
                    "goose: no migrations to run. current version: 1",
                    "goose run: no next version found",
                ],
            ),
            Run(["down"], 0, ["EMPTY 1_a.sql (T)"]),
            Run(["down"], 1, ["goose run: migration 0: no current version found"]),
            Run(["down-to", "0"], 0, ["goose: no migrations to run. current version: 0"]),
            Run(["redo"], 1, ["goose run: no current version found"]),
            Run(["reset"], 0, []),
        ],
        versions=[0],
        rows=[],
    ),
    # goose's own usage messages, exit 1
    GooseCase(
        "cli_errors",
        files={"1_a.sql": "-- +goose Up\nSELECT 1;\n"},
        runs=[
            Run(["frob"], 1, ['goose run: "frob": no such command']),
            Run(
                ["up-to"],
                1,
                ["goose run: up-to must be of form: goose [OPTIONS] DRIVER DBSTRING up-to VERSION"],
            ),
            Run(["up-to", "x"], 1, ["goose run: version must be a number (got 'x')"]),
            Run(
                ["down-to"],
                1,
                [
                    "goose run: down-to must be of form: goose [OPTIONS] DRIVER DBSTRING down-to VERSION"
                ],
            ),
        ],
        versions=None,
        rows=[],
    ),
    GooseCase(
        "envsub_colon_question",
        files={
            "1_a.sql": "-- +goose Up\n-- +goose ENVSUB ON\nINSERT INTO t VALUES ('${GV_SET:?x}', 'b');\n"
        },
        env={"GV_SET": "abcdef"},
        runs=[
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 1_a.sql: failed to parse SQL migration file: variable substitution failed: Unable to parse offset: strconv.Atoi: parsing \"?x\": invalid syntax:\nINSERT INTO t VALUES ('${GV_SET:?x}', 'b');"
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "envsub_off_again",
        files={
            "1_a.sql": "-- +goose Up\n-- +goose ENVSUB ON\nINSERT INTO t VALUES ('$GV_SET', 'b');\n-- +goose ENVSUB OFF\nINSERT INTO t VALUES ('$GV_SET', 'c');\n"
        },
        env={"GV_SET": "abcdef"},
        runs=[
            Run(
                ["up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
        ],
        versions=[0, 1],
        rows=[("$GV_SET", "c"), ("abcdef", "b")],
    ),
    GooseCase(
        "no_versioning",
        files={
            "1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('a', 'b');\n",
            "2_b.sql": "-- +goose Up\nINSERT INTO t VALUES ('c', 'd');\n",
        },
        runs=[
            Run(
                ["-no-versioning", "status"],
                0,
                [
                    "    Applied At                  Migration",
                    "    =======================================",
                    "    no versioning            -- 1_a.sql",
                    "    no versioning            -- 2_b.sql",
                ],
            ),
            Run(["-no-versioning", "version"], 0, ["goose: file version 2"]),
            Run(
                ["-no-versioning", "up"],
                0,
                ["OK   1_a.sql (T)", "OK   2_b.sql (T)", "goose: up to current file version: 2"],
            ),
            Run(
                ["-no-versioning", "down"],
                0,
                ["EMPTY 2_b.sql (T)", "goose: down to current file version: 1"],
            ),
        ],
        versions=None,
        rows=[("a", "b"), ("c", "d")],
    ),
    GooseCase(
        "table_flag",
        files={"1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('a', 'b');\n"},
        runs=[
            Run(
                ["-table=custom_versions", "up"],
                0,
                ["OK   1_a.sql (T)", "goose: successfully migrated database to version: 1"],
            ),
            Run(["-table=custom_versions", "version"], 0, ["goose: version 1"]),
            Run(["version"], 0, ["goose: version 0"]),
        ],
        versions=[0],
        rows=[("a", "b")],
    ),
    GooseCase(
        "timeout_flag",
        files={
            "1_a.sql": "-- +goose Up\nINSERT INTO t VALUES ('a', 'b');\n",
            "2_b.sql": "-- +goose Up\nSELECT pg_sleep(30);\n",
        },
        runs=[
            Run(
                ["-timeout=5s", "up"],
                1,
                [
                    "OK   1_a.sql (T)",
                    'goose run: ERROR 2_b.sql: failed to run SQL migration: failed to execute SQL query "SELECT pg_sleep(30);": timeout: context deadline exceeded',
                ],
            ),
            Run(
                ["status"],
                0,
                [
                    "    Applied At                  Migration",
                    "    =======================================",
                    "    <ANSIC> -- 1_a.sql",
                    "    Pending                  -- 2_b.sql",
                ],
            ),
        ],
        versions=[0, 1],
        rows=[("a", "b")],
    ),
    GooseCase(
        "bad_file_name",
        files={"1_a.sql": "-- +goose Up\nSELECT 1;\n", "abc_x.sql": "-- +goose Up\nSELECT 1;\n"},
        runs=[
            Run(
                ["status"],
                1,
                [
                    'goose run: failed to collect migrations: could not parse SQL migration file "{dir}/abc_x.sql": failed to parse version from migration file: abc_x.sql: strconv.ParseInt: parsing "abc": invalid syntax'
                ],
            ),
            Run(
                ["up"],
                1,
                [
                    'goose run: could not parse SQL migration file "{dir}/abc_x.sql": failed to parse version from migration file: abc_x.sql: strconv.ParseInt: parsing "abc": invalid syntax'
                ],
            ),
        ],
        versions=None,
        rows=[],
    ),
    GooseCase(
        "version_zero",
        files={"0_a.sql": "-- +goose Up\nSELECT 1;\n"},
        runs=[
            Run(
                ["status"],
                1,
                [
                    'goose run: failed to collect migrations: could not parse SQL migration file "{dir}/0_a.sql": migration version must be greater than zero'
                ],
            ),
        ],
        versions=None,
        rows=[],
    ),
    GooseCase(
        "no_files",
        files={"README.md": "x"},
        runs=[
            Run(
                ["status"], 1, ["goose run: failed to collect migrations: no migration files found"]
            ),
            Run(["up"], 1, ["goose run: no migration files found"]),
            Run(["version"], 0, ["goose: version 0"]),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "duplicate_down",
        files={
            "1_a.sql": "-- +goose Up\nSELECT 1;\n-- +goose Down\nSELECT 2;\n-- +goose Down\nSELECT 3;\n"
        },
        runs=[
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 1_a.sql: failed to parse SQL migration file: must start with '-- +goose Up' annotation, stateMachine=4, see https://github.com/pressly/goose#sql-migrations"
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "statement_end_without_begin",
        files={"1_a.sql": "-- +goose Up\nSELECT 1;\n-- +goose StatementEnd\n"},
        runs=[
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 1_a.sql: failed to parse SQL migration file: '-- +goose StatementEnd' must be defined after '-- +goose StatementBegin', see https://github.com/pressly/goose#sql-migrations"
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
    GooseCase(
        "down_inside_statement_block",
        files={
            "1_a.sql": "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose Down\nSELECT 2;\n-- +goose StatementEnd\n"
        },
        runs=[
            Run(
                ["up"],
                1,
                [
                    "goose run: ERROR 1_a.sql: failed to parse SQL migration file: must start with '-- +goose Up' annotation, stateMachine=2, see https://github.com/pressly/goose#sql-migrations"
                ],
            ),
        ],
        versions=[0],
        rows=[],
    ),
]


def _records(stderr: str, directory: Path) -> list[str]:
    """Split stderr into goose `log` records, normalised as the observed ones were."""
    records: list[str] = []
    for line in stderr.splitlines():
        if _PREFIX.match(line):
            records.append(_PREFIX.sub("", line))
        else:
            assert records, f"stderr starts without goose's time prefix: {line!r}"
            records[-1] += "\n" + line
    return [
        _DURATION.sub("(T)", _ANSIC.sub("<ANSIC>", r)).replace(f"{directory}/", "{dir}/")
        for r in records
    ]


def assert_same_record(ours: str, goose: str) -> None:
    """Word for word, except goose's detail after `failed to ...:`, where ours must carry it."""
    marker = next((m for m in _DETAIL if m in goose), None)
    if marker is None:
        assert ours == goose
        return
    head, detail = goose.split(marker, 1)
    assert ours.startswith(head + marker), (ours, goose)
    for pattern, template in DETAILS:
        if (found := pattern.search(detail + "\n")) is not None:
            assert template.format(**found.groupdict()) in ours, (ours, goose)
            return
    pytest.fail(f"no DETAILS rule for goose's {detail!r}")


async def _state(dsn: str) -> tuple[list[int] | None, list[tuple[str, ...]]]:
    conn = await asyncpg.connect(dsn)
    try:
        versions = None
        if await conn.fetchval("SELECT to_regclass('goose_db_version') IS NOT NULL"):
            rows = await conn.fetch("SELECT version_id FROM goose_db_version ORDER BY id")
            versions = [int(r["version_id"]) for r in rows]
        t = await conn.fetch("SELECT coalesce(a, 'NULL'), coalesce(b, 'NULL') FROM t ORDER BY 1")
        return versions, [tuple(r) for r in t]
    finally:
        await conn.close()


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_svcinfra_migrate_does_what_goose_did(
    case: GooseCase, postgres_db, tmp_path: Path
) -> None:
    """Same files, same command lines: same exit, same stderr records, same versions and rows."""
    for name, text in case.files.items():
        (tmp_path / name).write_bytes(text.encode())
    if case.pre:
        conn = await asyncpg.connect(postgres_db.dsn)
        try:
            await conn.execute(case.pre)
        finally:
            await conn.close()
    expected = case.ours or case
    env: dict[str, str | None] = {
        "GOOSE_DBSTRING": None,
        "GOOSE_MIGRATION_DIR": None,
        "GOOSE_TABLE": None,
        "GOOSE_DRIVER": None,
        **case.env,
    }
    for run in expected.runs:
        flags = [a for a in run.args if a.startswith("-")]
        rest = [a for a in run.args if not a.startswith("-")]
        argv = ["migrate", "-dir", str(tmp_path), *flags, "postgres", postgres_db.dsn, *rest]
        result = await asyncio.to_thread(CliRunner().invoke, main, argv, env=env)
        assert result.exit_code == run.exit, (run.args, result.stderr, result.exception)
        ours = _records(result.stderr, tmp_path)
        assert len(ours) == len(run.stderr), (run.args, ours, run.stderr)
        for mine, goose in zip(ours, run.stderr, strict=True):
            assert_same_record(mine, goose)
        # results and log events never share a stream: no goose record on stdout
        assert not [line for line in result.stdout.splitlines() if _PREFIX.match(line)]
    assert await _state(postgres_db.dsn) == (expected.versions, expected.rows)


def test_every_deliberate_difference_says_why() -> None:
    """A case that expects other results than goose's CLI names the reason (docs/goose.md)."""
    for case in CASES:
        if case.ours is not None:
            assert "Provider" in case.ours.why, case.name
