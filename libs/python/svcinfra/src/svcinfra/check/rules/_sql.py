"""PG-6 / PG-10 in Python code: no SQL in strings, none built from strings, none read by path.

Strings are found in the syntax tree (so comments and docstrings are not code) and confirmed as
SQL by PostgreSQL's parser (`_sqltext.looks_sql`), so prose that starts with "select" is left
alone.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Final

from svcinfra.check.adapters import call_parts, docstring_nodes, modules
from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult

from ._sqltext import is_built, looks_sql, template_text

if TYPE_CHECKING:
    from collections.abc import Iterator

    from svcinfra.check.adapters import Module, Repo

_RUNNERS: Final = frozenset(
    {"execute", "executemany", "fetch", "fetchrow", "fetchval", "fetchmany", "fetchall", "fetchone"}
)
_READERS: Final = frozenset({"open", "read_text", "read_bytes"})
# importlib.resources' entry points: the way queries ship inside the package (PG-10)
_RESOURCES: Final = frozenset({"files", "read_text", "open_text", "as_file"}) - _READERS


def _all_modules(repo: Repo) -> Iterator[Module]:
    for service in repo.services:
        yield from modules(repo, service)


def _built_roots(tree: ast.Module) -> Iterator[ast.expr]:
    """Every outermost expression that builds a string at run time."""
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.expr) and is_built(node):
            yield node
            continue
        stack.extend(ast.iter_child_nodes(node))


class SqlInString(Rule):
    """No SQL statement is written as a Python string literal."""

    info = RuleInfo(
        rule="PG-10",
        check="sql-in-string",
        summary="No SQL statement in a Python string literal: every query lives in its own .sql "
        "file under repository/postgres/<model>/sql/.",
        fix="Move the statement to repository/postgres/<model>/sql/<operation>.sql under a "
        "`-- name: <model>__<operation> :one|:many|:exec` header and load it with "
        "svcinfra.postgres.load_queries.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report every constant string that PostgreSQL parses as a statement."""
        findings: list[Finding] = []
        checked = 0
        for module in _all_modules(repo):
            checked += 1
            skip = docstring_nodes(module.tree)
            for root in _built_roots(module.tree):
                skip.update(id(node) for node in ast.walk(root))
            for node in ast.walk(module.tree):
                if (
                    isinstance(node, ast.Constant)
                    and isinstance(node.value, str)
                    and id(node) not in skip
                    and looks_sql(node.value)
                ):
                    findings.append(  # noqa: PERF401  (one finding per match reads clearer as a loop)
                        self.finding(
                            module.rel,
                            node.lineno,
                            f"SQL in a string literal: {_preview(node.value)}",
                            column=node.col_offset + 1,
                        )
                    )
        return self.result(findings, checked)


class SqlBuiltFromStrings(Rule):
    """No SQL text is assembled with f-strings, `%`, `+`, `.format` or `.join`."""

    info = RuleInfo(
        rule="PG-6",
        check="sql-built-from-strings",
        summary="SQL is never built with f-strings, %, +, .format or .join; values go through "
        "$n placeholders.",
        fix="Write the statement with $1..$n placeholders and pass the values as arguments; for "
        "optional filters or sorting use a svcinfra.postgres Template with allow-listed choices.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report every string-building expression whose text is SQL."""
        findings: list[Finding] = []
        checked = 0
        for module in _all_modules(repo):
            checked += 1
            for root in _built_roots(module.tree):
                text = template_text(root)
                if text is not None and looks_sql(text):
                    findings.append(
                        self.finding(
                            module.rel,
                            root.lineno,
                            f"SQL built from strings ({_how(root)}): {_preview(text)}",
                            column=root.col_offset + 1,
                        )
                    )
        return self.result(findings, checked)


class ExecuteNonConstant(Rule):
    """Driver calls (`execute`, `fetch*`) never receive a string built at run time."""

    info = RuleInfo(
        rule="PG-6",
        check="execute-built-string",
        summary="execute / executemany / fetch* receive a loaded query, never a string built at "
        "run time.",
        fix="Pass a query loaded from a .sql file (svcinfra.postgres.Database.one/many/exec with "
        "a Query) and its values as $n arguments.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report driver calls whose statement argument is a built string."""
        findings: list[Finding] = []
        checked = 0
        for module in _all_modules(repo):
            checked += 1
            for node in ast.walk(module.tree):
                if not isinstance(node, ast.Call) or not node.args:
                    continue
                _, name = call_parts(node)
                if name in _RUNNERS and is_built(node.args[0]):
                    findings.append(
                        self.finding(
                            module.rel,
                            node.lineno,
                            f"{name}() with a statement built at run time ({_how(node.args[0])})",
                            column=node.col_offset + 1,
                        )
                    )
        return self.result(findings, checked)


class QueryLoading(Rule):
    """Query files are read from package resources, never from a file-system path."""

    info = RuleInfo(
        rule="PG-10",
        check="queries-from-resources",
        summary="Queries are loaded from package resources (importlib.resources, as //go:embed "
        "ships them in the binary), never opened by a path next to __file__.",
        fix="Call svcinfra.postgres.load_queries('<package>') once in app.py and pass the "
        "Queries to the repository.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report open() / read_text() calls whose path mentions .sql files or __file__."""
        findings: list[Finding] = []
        checked = 0
        for module in _all_modules(repo):
            checked += 1
            # `[p.read_text() for p in folder.glob("*.sql")]`: the path is the loop's
            looped = {
                id(inner)
                for node in ast.walk(module.tree)
                if isinstance(node, ast.ListComp | ast.SetComp | ast.GeneratorExp | ast.DictComp)
                and any(_mentions_sql_path(gen.iter) for gen in node.generators)
                for inner in ast.walk(node)
            }
            for node in ast.walk(module.tree):
                if not isinstance(node, ast.Call):
                    continue
                _, name = call_parts(node)
                if name in _READERS and (id(node) in looped or _mentions_sql_path(node)):
                    findings.append(
                        self.finding(
                            module.rel,
                            node.lineno,
                            f"{name}() reads SQL by path; load queries from package resources",
                            column=node.col_offset + 1,
                        )
                    )
        return self.result(findings, checked)


def _mentions_sql_path(call: ast.expr) -> bool:
    """Whether the expression reads a path of SQL files (not package resources)."""
    if any(
        isinstance(node, ast.Call) and call_parts(node)[1] in _RESOURCES for node in ast.walk(call)
    ):
        return False
    found_file = found_sql = False
    for node in ast.walk(call):
        if isinstance(node, ast.Name) and node.id == "__file__":
            found_file = True
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            value = node.value
            found_sql = found_sql or value.endswith(".sql") or value in {"sql", "*.sql"}
    return found_sql or (found_file and _sql_nearby(call))


def _sql_nearby(call: ast.expr) -> bool:
    return any(
        isinstance(n, ast.Constant) and isinstance(n.value, str) and "sql" in n.value
        for n in ast.walk(call)
    )


def _how(node: ast.expr) -> str:
    if isinstance(node, ast.JoinedStr):
        return "f-string"
    if isinstance(node, ast.BinOp):
        return "%" if isinstance(node.op, ast.Mod) else "+"
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
        return f".{node.func.attr}()"
    return "expression"


def _preview(text: str) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= 60 else flat[:57] + "...")  # noqa: PLR2004  (a display or word-count limit)
