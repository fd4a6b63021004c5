"""Which dataclass each query's rows are mapped to, read from the repository code.

Recognised: `db.one|many|optional(<query>, ..., row=<Class>)` where `<query>` is
`queries.query("name")`, an attribute assigned one in the same class
(`self._get = queries.query("users__get_by_id")`), or a name bound in the same function from a
template (`query, args = self._search.render(...)`); and a `-- row: <Class>` line in the `.sql`
file, which wins.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from svcinfra.check.adapters import call_parts, dotted, functions

if TYPE_CHECKING:
    from svcinfra.check.adapters import Module

_RUNS: Final = frozenset({"one", "many", "optional"})
_LOOKUPS: Final = frozenset({"query", "template"})
ROW_COMMENT: Final = re.compile(r"^--\s*row:\s*(?P<name>[A-Za-z_][\w.]*)\s*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Use:
    """One call that runs a named query: where, which row class, how many positional values."""

    query: str
    row: str | None
    values: int | None
    rel: str
    line: int


def _lookup(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        _, name = call_parts(node)
        value = node.args[0].value
        if name in _LOOKUPS and isinstance(value, str):
            return value
    return None


def uses(module: Module) -> list[Use]:  # noqa: C901, PLR0912  (one pass over the tree, kept whole)
    """Every query-running call of the module whose query name can be resolved."""
    attributes: dict[str, str] = {}
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Assign) and (name := _lookup(node.value)):
            for target in node.targets:
                if key := dotted(target):
                    attributes[key] = name
    found = []
    for func in functions(module.tree):
        local: dict[str, str] = {}
        for node in ast.walk(func):
            if isinstance(node, ast.Assign):
                value = node.value
                source = None
                if isinstance(value, ast.Call) and call_parts(value)[1] == "render":
                    source = (
                        attributes.get(dotted(value.func.value) or "")
                        if isinstance(value.func, ast.Attribute)
                        else None
                    )
                else:
                    source = _lookup(value)
                target = node.targets[0]
                if isinstance(target, ast.Tuple) and target.elts:
                    target = target.elts[0]
                if source and (key := dotted(target)):
                    local[key] = source
            if isinstance(node, ast.Call) and call_parts(node)[1] in _RUNS and node.args:
                first = node.args[0]
                query = (
                    _lookup(first)
                    or local.get(dotted(first) or "")
                    or attributes.get(dotted(first) or "")
                )
                if query is None:
                    continue
                row = next((kw.value for kw in node.keywords if kw.arg == "row"), None)
                starred = any(isinstance(a, ast.Starred) for a in node.args[1:])
                found.append(
                    Use(
                        query=query,
                        row=(dotted(row) or "").rsplit(".", 1)[-1] or None if row else None,
                        values=None if starred else len(node.args) - 1,
                        rel=module.rel,
                        line=node.lineno,
                    )
                )
    return found


def dataclass_fields(modules: list[Module]) -> dict[str, list[str]]:
    """Every dataclass of the service by class name, with its init fields in order."""
    found: dict[str, list[str]] = {}
    for module in modules:
        for node in ast.walk(module.tree):
            if not isinstance(node, ast.ClassDef):
                continue
            decorators = {(dotted(d) or "").rsplit(".", 1)[-1] for d in node.decorator_list}
            if "dataclass" not in decorators:
                continue
            found[node.name] = [
                item.target.id
                for item in node.body
                if isinstance(item, ast.AnnAssign)
                and isinstance(item.target, ast.Name)
                and "ClassVar" not in ast.unparse(item.annotation)
            ]
    return found
