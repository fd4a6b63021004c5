"""Which statements leave state in the session, decided by PostgreSQL's own parser (PG-5).

A connection goes back to the pool without asyncpg's reset round trip only when every query it
ran is known to leave nothing behind. That is decided once per named query, when it is loaded
(or a template variant is first rendered), from the parse tree pglast (libpg_query, the server's
own grammar) builds; never from the text with a regular expression.

Conservative by construction: a statement is *clean* only when all of it is on an allow-list.

- Statements: `SELECT` (without `INTO` a temporary table), `INSERT`, `UPDATE`, `DELETE`, `MERGE`
  (also as data-modifying CTEs), `VALUES`, `SET LOCAL`, `SET TRANSACTION`, `SET CONSTRAINTS`,
  `SHOW`, `NOTIFY` (delivered at commit, no session state) and `EXPLAIN` of those. Every other
  statement is dirty: `SET`/`SET SESSION`/`RESET`, `LISTEN`/`UNLISTEN`, `PREPARE`/`EXECUTE`/
  `DEALLOCATE`, `DECLARE` (with or without `HOLD`), `DO`, `CALL`, `LOCK`, `DISCARD`, `LOAD`,
  `BEGIN`/`COMMIT`, and all DDL (`CREATE TEMP ...` among it).
- Temporary objects: any relation with temporary persistence (`SELECT ... INTO TEMP`, `CREATE
  LOCAL TEMP`, `CREATE TABLE ... AS` temp) or in a `pg_temp` schema.
- Function calls: only the built-ins of `CLEAN_FUNCTIONS`, reviewed to have no session effect,
  unqualified or qualified with `pg_catalog`. `set_config(name, value, is_local)` is clean only
  when `is_local` is the constant `true`. Any other function, every user-defined one included,
  makes the query dirty (a plpgsql function may run `set_config(..., false)`, take a session
  advisory lock, create a temp table, `LISTEN`, `PREPARE`).
- Operators named with a schema (`OPERATOR(myschema.===)`) other than `pg_catalog` are dirty.

An unqualified allow-listed name may resolve, by its argument types, to an overload in another
schema (an extension's `lower(citext)`): such overloads must have no session effect either; the
catalog is not consulted here, at load time.

What a parser cannot see, so the connection is not reset for it: a trigger, rule, view, column
default, policy, user-defined cast or operator that calls a function with session effects. Such
functions must keep their effects to the transaction (`set_config(..., true)`, `SET LOCAL`,
`pg_advisory_xact_lock`); `docs/postgres-sessions.md` says so for teams.
"""

from __future__ import annotations

import json
from typing import Final

from pglast import parser as pg_parser

CLEAN_STATEMENTS: Final = frozenset(
    {
        "RawStmt",
        "SelectStmt",
        "InsertStmt",
        "UpdateStmt",
        "DeleteStmt",
        "MergeStmt",
        "ConstraintsSetStmt",
        "VariableShowStmt",
        "NotifyStmt",
        "ExplainStmt",
    }
)
"""Statement nodes that leave nothing in the session by themselves (their parts are checked)."""

CLEAN_FUNCTIONS: Final = frozenset(
    {
        # aggregates and window functions
        "count", "sum", "avg", "min", "max", "array_agg", "string_agg", "json_agg", "jsonb_agg",
        "json_object_agg", "jsonb_object_agg", "bool_and", "bool_or", "every", "bit_and",
        "bit_or", "stddev", "variance", "percentile_cont", "percentile_disc", "mode",
        "row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead",
        "first_value", "last_value", "nth_value",
        # strings
        "lower", "upper", "length", "char_length", "character_length", "octet_length",
        "substring", "substr", "trim", "btrim", "ltrim", "rtrim", "replace", "concat",
        "concat_ws", "format", "left", "right", "position", "strpos", "split_part", "lpad",
        "rpad", "repeat", "reverse", "initcap", "translate", "overlay", "starts_with",
        "regexp_replace", "regexp_match", "regexp_matches", "regexp_split_to_array",
        "regexp_split_to_table", "regexp_like", "regexp_count", "md5", "sha256", "encode",
        "decode", "quote_ident", "quote_literal", "quote_nullable", "string_to_array",
        "array_to_string", "to_char", "to_number", "to_date", "to_timestamp", "chr", "ascii",
        "normalize", "bit_length",
        # numbers
        "abs", "ceil", "ceiling", "floor", "round", "trunc", "mod", "power", "sqrt", "exp",
        "ln", "log", "sign", "div", "width_bucket", "random", "pi",
        # dates and times
        "now", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday",
        "date_trunc", "date_part", "date_bin", "extract", "age", "make_date", "make_time",
        "make_timestamp", "make_timestamptz", "make_interval", "justify_days", "justify_hours",
        "justify_interval", "isfinite", "timezone",
        # arrays, sets, ranges
        "unnest", "generate_series", "generate_subscripts", "array_length", "array_lower",
        "array_upper", "array_position", "array_positions", "array_remove", "array_replace",
        "array_append", "array_prepend", "array_cat", "array_dims", "array_ndims", "cardinality",
        "lower_inc", "upper_inc", "isempty", "range_merge",
        # json
        "to_json", "to_jsonb", "row_to_json", "array_to_json", "json_build_object",
        "jsonb_build_object", "json_build_array", "jsonb_build_array", "json_object",
        "jsonb_object", "jsonb_set", "jsonb_set_lax", "jsonb_insert", "jsonb_strip_nulls",
        "json_strip_nulls", "jsonb_pretty", "json_typeof", "jsonb_typeof", "json_array_length",
        "jsonb_array_length", "json_array_elements", "jsonb_array_elements",
        "json_array_elements_text", "jsonb_array_elements_text", "json_each", "jsonb_each",
        "json_each_text", "jsonb_each_text", "json_object_keys", "jsonb_object_keys",
        "json_extract_path", "jsonb_extract_path", "json_extract_path_text",
        "jsonb_extract_path_text", "jsonb_path_query", "jsonb_path_query_array",
        "jsonb_path_query_first", "jsonb_path_exists", "jsonb_path_match",
        "json_populate_record", "jsonb_populate_record", "json_populate_recordset",
        "jsonb_populate_recordset", "json_to_record", "jsonb_to_record", "json_to_recordset",
        "jsonb_to_recordset",
        # text search
        "to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery",
        "websearch_to_tsquery", "ts_rank", "ts_rank_cd", "ts_headline", "setweight",
        # identifiers, hashes, misc
        "gen_random_uuid", "uuidv4", "uuidv7", "hashtext", "num_nulls", "num_nonnulls",
        "pg_typeof", "coalesce", "nullif", "greatest", "least", "current_setting",
        "pg_backend_pid", "pg_listening_channels", "version", "current_database",
        "inet_server_addr", "txid_current", "pg_current_xact_id", "pg_notify", "pg_sleep",
        "pg_is_in_recovery", "pg_last_xact_replay_timestamp",
        # sequences: nextval's per-session memory (currval/lastval) is set by every INSERT into
        # an identity column too, and DISCARD SEQUENCES in the reset clears it.
        "nextval", "currval", "setval", "lastval",
        # locks that end with the transaction
        "pg_advisory_xact_lock", "pg_advisory_xact_lock_shared", "pg_try_advisory_xact_lock",
        "pg_try_advisory_xact_lock_shared",
    }
)  # fmt: skip
"""Built-in functions reviewed to have no effect that outlives the transaction."""

_TRUSTED_SCHEMA: Final = "pg_catalog"


def session_effects(sql: str) -> bool:
    """Whether running `sql` may leave state in the session (True when in any doubt).

    Text the parser rejects is dirty: the server will reject it too, and nothing proves it clean.
    """
    try:
        tree = json.loads(pg_parser.parse_sql_json(sql))
    except pg_parser.ParseError:
        return True
    return _dirty(tree.get("stmts", []))


def parse_error(sql: str) -> tuple[str, int] | None:
    """PostgreSQL's parser's message for `sql` and the offset it points at, or None."""
    try:
        pg_parser.parse_sql_json(sql)
    except pg_parser.ParseError as exc:
        message = str(exc.args[0]) if exc.args else str(exc)
        offset = exc.args[1] if len(exc.args) > 1 and isinstance(exc.args[1], int) else 0
        return message, max(offset, 0)
    return None


def _dirty(value: object) -> bool:
    """Walk libpg_query's JSON tree; node types are the capitalised keys."""
    if isinstance(value, list):
        return any(_dirty(item) for item in value)
    if not isinstance(value, dict):
        return False
    schema = value.get("schemaname")
    if value.get("relpersistence") == "t" or (
        isinstance(schema, str) and schema.startswith("pg_temp")
    ):
        return True  # a temporary object, or one in the session's own schema
    return any(
        (key[:1].isupper() and _dirty_node(key, child)) or _dirty(child)
        for key, child in value.items()
    )


def _dirty_node(kind: str, node: object) -> bool:
    if not isinstance(node, dict):
        return False
    if kind == "VariableSetStmt":
        return not (node.get("is_local") or node.get("name") == "TRANSACTION")
    if kind.endswith("Stmt"):
        return kind not in CLEAN_STATEMENTS
    if kind == "FuncCall":
        return _dirty_call(node)
    if kind == "A_Expr":
        names = _names(node.get("name", []))
        return len(names) > 1 and names[0] != _TRUSTED_SCHEMA
    return False


def _dirty_call(node: dict[str, object]) -> bool:
    names = _names(node.get("funcname", []))
    if not names or len(names) > 2 or (len(names) == 2 and names[0] != _TRUSTED_SCHEMA):  # noqa: PLR2004  (schema.function)
        return True
    name = names[-1]
    if name == "set_config":
        args = node.get("args")
        return not (isinstance(args, list) and len(args) == 3 and _is_true(args[2]))  # noqa: PLR2004  (name, value, is_local)
    return name not in CLEAN_FUNCTIONS


def _is_true(arg: object) -> bool:
    if not isinstance(arg, dict):
        return False
    const = arg.get("A_Const")
    return isinstance(const, dict) and const.get("boolval") == {"boolval": True}


def _names(items: object) -> list[str]:
    names: list[str] = []
    if isinstance(items, list):
        for item in items:
            string = item.get("String") if isinstance(item, dict) else None
            names.append(str(string.get("sval", "")) if isinstance(string, dict) else "")
    return names


_WRITES: Final = frozenset({"InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt"})
# Built-ins that write or take a transaction id: a standby refuses them (25006).
_WRITING_FUNCTIONS: Final = frozenset(
    {"nextval", "setval", "pg_notify", "txid_current", "pg_current_xact_id"}
)


def not_a_pure_read(sql: str) -> str | None:
    """Why `sql` cannot run on a hot standby, or None when it is a plain read.

    A standby runs read-only transactions: no data-modifying statement or CTE, no row locks
    (`FOR UPDATE` / `FOR SHARE`), no `SELECT INTO`, nothing that writes a sequence or takes a
    transaction id; and, as on any pooled connection, nothing with a session effect.
    """
    try:
        tree = json.loads(pg_parser.parse_sql_json(sql))
    except pg_parser.ParseError:
        return "PostgreSQL's parser rejects"
    statements = tree.get("stmts", [])
    if len(statements) != 1 or "SelectStmt" not in statements[0].get("stmt", {}):
        return "is not a SELECT"
    found = _write_in(statements)
    if found is not None:
        return found
    if _dirty(statements):
        return "may change the session (see docs/postgres-sessions.md)"
    return None


_REFUSED_KEYS: Final = {
    **dict.fromkeys(_WRITES, "modifies data (a data-modifying WITH)"),
    "lockingClause": "locks rows (FOR UPDATE / FOR SHARE)",
    "intoClause": "creates a table (SELECT INTO)",
}


def _write_in(value: object) -> str | None:
    """The first thing in libpg_query's JSON tree that a standby refuses, said in words."""
    if isinstance(value, list):
        return next((why for item in value if (why := _write_in(item)) is not None), None)
    if not isinstance(value, dict):
        return None
    for key, child in value.items():
        why = _REFUSED_KEYS.get(key)
        if why is None and key == "FuncCall" and isinstance(child, dict):
            names = _names(child.get("funcname", []))
            if names and names[-1] in _WRITING_FUNCTIONS:
                why = f"calls {names[-1]}(), which a standby refuses"
        if why is None:
            why = _write_in(child)
        if why is not None:
            return why
    return None
