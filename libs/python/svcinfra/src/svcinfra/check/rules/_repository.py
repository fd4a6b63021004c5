"""PG-8, PG-9, PG-12: rows by name, Postgres code in its place, no network call in a transaction."""

from __future__ import annotations

import ast
import re
from typing import TYPE_CHECKING, Final

from svcinfra.check.adapters import call_parts, dotted, modules, own_nodes
from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult, Severity

if TYPE_CHECKING:
    from svcinfra.check.adapters import Module, Repo, Service

_DRIVERS: Final = ("asyncpg", "psycopg", "psycopg2", "sqlalchemy", "svcinfra.postgres")
# the composition root and the CLI wire the database; they do not query it
_WIRING: Final = frozenset({"app", "__main__", "cli", "config"})
_ROWISH: Final = re.compile(r"(^|_)(row|rows|record|records|rec|result|results)$", re.IGNORECASE)
_FETCHES: Final = frozenset({"fetchrow", "fetch", "fetchone", "fetchall", "fetchmany", "one"})
_NETWORK_RECEIVER: Final = re.compile(
    r"(http|client|session|api|mail|redis|cache|publisher|broker|channel|exchange|amqp|"
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
        summary="Repositories never read a row by position (row[0]); rows map by column name.",
        fix="Pass row=<Dataclass> to Database.one/many (strict by-name mapping) or read "
        "row['column'].",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report integer subscripts of row-like values in repository modules."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            for module in modules(repo, service):
                if module.layer != "repository":
                    continue
                checked += 1
                findings.extend(
                    self.finding(
                        module.rel,
                        node.lineno,
                        f"row read by position: {ast.unparse(node)}",
                        column=node.col_offset + 1,
                    )
                    for node in ast.walk(module.tree)
                    if isinstance(node, ast.Subscript) and _positional_row(node)
                )
        return self.result(findings, checked)


def _positional_row(node: ast.Subscript) -> bool:
    index = node.slice
    if not (isinstance(index, ast.Constant) and type(index.value) is int):
        return False
    value = node.value.value if isinstance(node.value, ast.Await) else node.value
    if isinstance(value, ast.Call):
        return call_parts(value)[1] in _FETCHES
    name = dotted(value)
    return name is not None and bool(_ROWISH.search(name.rsplit(".", 1)[-1]))


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
                findings.extend(
                    self.finding(
                        module.rel,
                        line,
                        f"{name} imported outside repository/postgres/",
                    )
                    for name, line in module.imports
                    if name in _DRIVERS
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
        "block; it holds locks and a connection for as long as the remote side takes.",
        fix="Make the call before or after the transaction; to publish with the change, write "
        "the message to the outbox in the transaction and let the relay publish it.",
        severity=Severity.WARNING,
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report network-looking calls in the body of `async with ...transaction(...)`."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            for module in modules(repo, service):
                checked += 1
                for node in ast.walk(module.tree):
                    if isinstance(node, ast.AsyncWith | ast.With) and _is_transaction(node):
                        findings.extend(self._calls(module, node))
        return self.result(findings, checked)

    def _calls(self, module: Module, block: ast.AsyncWith | ast.With) -> list[Finding]:
        found = []
        for node in own_nodes(block.body):
            if not isinstance(node, ast.Call):
                continue
            receiver, name = call_parts(node)
            if name is None:
                continue
            network = bool(_PUBLISH.match(name)) or (
                receiver is not None
                and bool(_NETWORK_RECEIVER.search(receiver.rsplit(".", 1)[-1]))
                and (name in _NETWORK_METHODS or "redis" in receiver.lower())
            )
            if network:
                found.append(
                    self.finding(
                        module.rel,
                        node.lineno,
                        f"network call {ast.unparse(node.func)}() inside a transaction "
                        f"(line {block.lineno})",
                        column=node.col_offset + 1,
                    )
                )
        return found


def _is_transaction(node: ast.AsyncWith | ast.With) -> bool:
    for item in node.items:
        expr = item.context_expr
        if isinstance(expr, ast.Call):
            _, name = call_parts(expr)
            if name in {"transaction", "begin", "atomic"}:
                return True
    return False
