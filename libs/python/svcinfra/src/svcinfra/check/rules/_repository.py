"""PG-8, PG-9, PG-12: rows by name, Postgres code in its place, no network call in a transaction."""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Final

from svcinfra.check.adapters import (
    NETWORK_KINDS,
    Inferred,
    Kind,
    call_parts,
    dotted,
    modules,
    own_nodes,
    types_of,
)
from svcinfra.check.domain import Confidence, Finding, Rule, RuleInfo, RuleResult, Severity

if TYPE_CHECKING:
    from collections.abc import Iterator

    from svcinfra.check.adapters import Module, Repo, Service, TypeMap

_DRIVERS: Final = ("asyncpg", "psycopg", "psycopg2", "sqlalchemy", "svcinfra.postgres")
# the composition root and the CLI wire the database; they do not query it
_WIRING: Final = frozenset({"app", "__main__", "cli", "config"})
# a name that says "one row" when the module does not say what the value is
_ROW_NAME: Final = re.compile(r"(^|_)(row|record|rec)$", re.IGNORECASE)
_ONE_ROW: Final = frozenset({"fetchrow", "fetchone", "one", "maybe_one"})
# module-level functions that call out over HTTP (qualified through the module's imports)
_HTTP_FUNCTIONS: Final = re.compile(r"^(httpx|requests|aiohttp|urllib\.request|urllib3)\.")
_MAX_DEPTH: Final = 3
_NETWORK_RECEIVER: Final = re.compile(
    r"(http|client|api|mail|redis|cache|publisher|broker|channel|exchange|amqp|"
    r"requests|httpx|aiohttp)",
    re.IGNORECASE,
)
_NETWORK_METHODS: Final = frozenset(
    {"get", "post", "put", "patch", "delete", "head", "request", "send", "stream", "set", "setex"}
)
_PUBLISH: Final = re.compile(r"^publish", re.IGNORECASE)


def uses_postgres(repo: Repo, service: Service) -> bool:
    """Whether the service has a Postgres repository or imports a Postgres driver."""
    if (
        service.package_dir is not None
        and (service.package_dir / "repository" / "postgres").is_dir()
    ):
        return True
    return any(module.imports_any(*_DRIVERS) for module in modules(repo, service))


class PositionalRows(Rule):
    """Repositories read result rows by column name, never by position."""

    info = RuleInfo(
        rule="PG-8",
        check="positional-row-access",
        summary="Repositories never read a row by position (row[0], a, b = row); rows map by "
        "column name.",
        fix="Pass row=<Dataclass> to Database.one/many (strict by-name mapping) or read "
        "row['column'].",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report integer subscripts and tuple unpacking of rows in repository modules.

        A row is what the module says it is: the result of `fetchrow` / `one` on a connection,
        an element of `fetch` / `many`'s list (`rows[0]` is a row, `rows[0][1]` a column by
        position), a loop variable over such a list. A value named `row` / `record` whose origin
        is unknown is taken for a row with low confidence; `rows[0]` alone is never a finding.
        """
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            for module in modules(repo, service):
                if module.layer != "repository":
                    continue
                checked += 1
                findings.extend(self._module(module))
        return self.result(findings, checked)

    def _module(self, module: Module) -> Iterator[Finding]:
        types = types_of(module.tree)
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Subscript):
                index = node.slice
                if isinstance(index, ast.Constant) and type(index.value) is int:
                    found = _row(types, node.value, types.function_of(node))
                    if found is not None:
                        yield self._at(
                            module, node, f"row read by position: {ast.unparse(node)}", found
                        )
            elif isinstance(node, ast.Assign | ast.For | ast.AsyncFor):
                target = node.targets[0] if isinstance(node, ast.Assign) else node.target
                if not isinstance(target, ast.Tuple | ast.List):
                    continue
                func = types.function_of(node)
                if isinstance(node, ast.Assign):
                    found = _row(types, node.value, func)
                else:
                    rows = types.kind_of(node.iter, func)
                    found = rows if rows is not None and rows.kind is Kind.ROWS else None
                if found is not None:
                    yield self._at(
                        module, node, f"row unpacked by position: {ast.unparse(target)}", found
                    )

    def _at(self, module: Module, node: ast.stmt | ast.expr, what: str, found: Inferred) -> Finding:
        return self.finding(
            module.rel,
            node.lineno,
            what if found.certain else f"{what} ({found.why})",
            column=node.col_offset + 1,
            confidence=Confidence.HIGH if found.certain else Confidence.LOW,
        )


def _row(
    types: TypeMap, node: ast.expr, func: ast.FunctionDef | ast.AsyncFunctionDef | None
) -> Inferred | None:
    """What `node` is when it is one row (known, or guessed from a fetch's name or its own)."""
    found = types.kind_of(node, func)
    if found is not None:
        return found if found.kind is Kind.ROW else None
    value = node.value if isinstance(node, ast.Await) else node
    if isinstance(value, ast.Call):
        method = call_parts(value)[1]
        if method in _ONE_ROW:
            return Inferred(Kind.ROW, certain=True, why=f"{method}() returns one row")
        return None
    name = dotted(value)
    if name is not None and _ROW_NAME.search(name.rsplit(".", 1)[-1]):
        return Inferred(Kind.ROW, certain=False, why=f"its origin is unknown; {name!r} says a row")
    return None


class RepositoryLayout(Rule):
    """Ports live in domain/repository, Postgres code in repository/postgres only."""

    info = RuleInfo(
        rule="PG-9",
        check="repository-layout",
        summary="A service using Postgres declares its repository ports (Protocols) under "
        "domain/repository/ and imports Postgres drivers only under repository/postgres/ "
        "(and in the composition root).",
        fix="Move the Postgres code into repository/postgres/<model>/ and declare the port it "
        "implements as a typing.Protocol in domain/repository/<model>.py.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Check the ports folder and where Postgres drivers are imported."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            if service.package_dir is None or not uses_postgres(repo, service):
                continue
            checked += 1
            all_modules = list(modules(repo, service))
            ports = [m for m in all_modules if m.in_folder("domain", "repository")]
            if not any(_declares_port(m) for m in ports):
                findings.append(
                    self.finding(
                        repo.rel(service.package_dir),
                        0,
                        f"service {service.name} uses Postgres but declares no repository port "
                        "(a Protocol) under domain/repository/",
                    )
                )
            for module in all_modules:
                if module.in_folder("repository", "postgres") or module.layer in _WIRING:
                    continue
                lines: dict[int, str] = {}  # one finding per import statement
                for name, line in module.imports:
                    if any(name == d or name.startswith(d + ".") for d in _DRIVERS):
                        lines.setdefault(line, name)
                findings.extend(
                    self.finding(module.rel, line, f"{name} imported outside repository/postgres/")
                    for line, name in sorted(lines.items())
                )
        return self.result(findings, checked)


def _declares_port(module: Module) -> bool:
    for node in ast.walk(module.tree):
        if isinstance(node, ast.ClassDef):
            bases = {(dotted(base) or "").rsplit(".", 1)[-1] for base in node.bases}
            if bases & {"Protocol", "ABC"}:
                return True
    return False


class NetworkInTransaction(Rule):
    """No HTTP call, publish or Redis call runs inside a database transaction."""

    info = RuleInfo(
        rule="PG-12",
        check="network-call-in-transaction",
        summary="No network call (HTTP client, publish, Redis) inside a database transaction "
        "block, directly or through the service's own functions and methods; it holds locks "
        "and a connection for as long as the remote side takes.",
        fix="Make the call before or after the transaction; to publish with the change, write "
        "the message to the outbox in the transaction and let the relay publish it.",
        severity=Severity.WARNING,
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report network calls in `with ...transaction()` / `.begin()` / `.atomic()` blocks.

        A network call is a call on an HTTP client, a Redis client or pipeline, svcinfra's
        cache or a publisher (known by type), a module-level HTTP function (`httpx.get`), or,
        where a receiver's type is unknown, a name that suggests one (low confidence). Calls of
        the module's own functions and of `self` methods are followed up to three levels
        deep; ORM session and database connection methods are never network calls.
        """
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            for module in modules(repo, service):
                checked += 1
                types = types_of(module.tree)
                for node in ast.walk(module.tree):
                    if isinstance(node, ast.AsyncWith | ast.With) and _is_transaction(node):
                        findings.extend(self._block(module, types, node))
        return self.result(findings, checked)

    def _block(
        self, module: Module, types: TypeMap, block: ast.AsyncWith | ast.With
    ) -> Iterator[Finding]:
        func = types.function_of(block)
        database = _transaction_handles(block)
        for node in own_nodes(block.body):
            if not isinstance(node, ast.Call):
                continue
            if isinstance(node.func, ast.Attribute) and dotted(node.func.value) in database:
                continue  # the session or connection the transaction is on
            path = _network_path(types, node, func, depth=0, seen=set())
            if path is None:
                continue
            chain, found = path
            via = "" if len(chain) == 1 else f" via {' -> '.join(chain)}"
            why = "" if found.certain else f" ({found.why})"
            yield self.finding(
                module.rel,
                node.lineno,
                f"network call {ast.unparse(node.func)}(){via} inside a transaction "
                f"(line {block.lineno}){why}",
                column=node.col_offset + 1,
                confidence=Confidence.HIGH if found.certain else Confidence.LOW,
            )


def _network_path(
    types: TypeMap,
    call: ast.Call,
    func: ast.FunctionDef | ast.AsyncFunctionDef | None,
    *,
    depth: int,
    seen: set[int],
) -> tuple[list[str], Inferred] | None:
    """The chain of calls from `call` to a network call, and what the network receiver is."""
    here = f"{ast.unparse(call.func)}()"
    direct = _network_call(types, call, func)
    if direct is not None:
        return [here], direct
    target = _own_callee(types, call, func)
    if target is None or depth >= _MAX_DEPTH or id(target) in seen:
        return None
    seen.add(id(target))
    for node in own_nodes(target.body):
        if isinstance(node, ast.Call):
            found = _network_path(types, node, target, depth=depth + 1, seen=seen)
            if found is not None:
                return [here, *found[0]], found[1]
    return None


def _network_call(  # noqa: PLR0911  (one verdict per kind of callee reads best flat)
    types: TypeMap, call: ast.Call, func: ast.FunctionDef | ast.AsyncFunctionDef | None
) -> Inferred | None:
    qualified = types.qualified(call.func)
    if qualified is not None and _HTTP_FUNCTIONS.match(qualified):
        return Inferred(Kind.HTTPX, why=qualified)
    if not isinstance(call.func, ast.Attribute):
        return None
    receiver, method = call.func.value, call.func.attr
    found = types.kind_of(receiver, func)
    if found is not None:
        return found if found.kind in NETWORK_KINDS else None
    if isinstance(receiver, ast.Name) and receiver.id == "self":
        return None  # an own method: followed by the caller, not guessed
    name = dotted(receiver) or ""
    last = name.rsplit(".", 1)[-1]
    if _PUBLISH.match(method) and not re.search("outbox", name, re.IGNORECASE):
        return Inferred(
            Kind.PUBLISHER, certain=False, why=f"its type is unknown; {method}() suggests a publish"
        )
    if last and _NETWORK_RECEIVER.search(last) and method in _NETWORK_METHODS:
        return Inferred(
            Kind.HTTPX, certain=False, why=f"its type is unknown; {last!r} suggests a client"
        )
    return None


def _own_callee(
    types: TypeMap, call: ast.Call, func: ast.FunctionDef | ast.AsyncFunctionDef | None
) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    """The module's own function or the class's own method that `call` calls, if any."""
    if isinstance(call.func, ast.Name):
        return next(
            (f for f in types.functions if f.name == call.func.id and types.function_of(f) is None),
            None,
        )
    if (
        isinstance(call.func, ast.Attribute)
        and isinstance(call.func.value, ast.Name)
        and call.func.value.id in {"self", "cls"}
        and func is not None
    ):
        cls = types.classes.get(id(func))
        if cls is None:
            return None
        return next(
            (
                f
                for f in cls.body
                if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
                and f.name == call.func.attr
            ),
            None,
        )
    return None


def _transaction_handles(node: ast.AsyncWith | ast.With) -> set[str]:
    """What the transaction runs on: `session` in `session.begin()`, `tx` in `as tx`."""
    names: set[str] = set()
    for item in node.items:
        if isinstance(item.context_expr, ast.Call):
            receiver = call_parts(item.context_expr)[0]
            if receiver:
                names.add(receiver)
        if item.optional_vars is not None and (name := dotted(item.optional_vars)):
            names.add(name)
    return names


def _is_transaction(node: ast.AsyncWith | ast.With) -> bool:
    for item in node.items:
        expr = item.context_expr
        if isinstance(expr, ast.Call):
            _, name = call_parts(expr)
            if name in {"transaction", "begin", "begin_nested", "atomic"}:
                return True
    return False
