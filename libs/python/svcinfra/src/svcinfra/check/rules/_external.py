"""EX-1 / EX-2: HTTP clients only in adapters (`clients/`), and never without a timeout."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Final

from svcinfra.check.adapters import dotted, keyword_names, modules
from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult

if TYPE_CHECKING:
    from svcinfra.check.adapters import Repo

_HTTP: Final = ("httpx", "requests", "aiohttp", "urllib3", "urllib.request", "svcinfra.httpclient")
# where an HTTP client may be imported: the adapters and the composition root; the domain is
# ARCH-1's (domain-imports-infrastructure)
_ALLOWED_LAYERS: Final = frozenset({"clients", "app", "__main__", "config", "domain"})
_VERBS: Final = ("get", "post", "put", "patch", "delete", "head", "options", "request", "stream")
_NEEDS_TIMEOUT: Final = frozenset(
    {
        "httpx.AsyncClient",
        "httpx.Client",
        "aiohttp.ClientSession",
        "urllib.request.urlopen",
        "urllib3.PoolManager",
        *(f"httpx.{verb}" for verb in _VERBS),
        *(f"requests.{verb}" for verb in _VERBS),
    }
)


class HttpOnlyInClients(Rule):
    """HTTP client libraries are used only by the adapters under `clients/`."""

    info = RuleInfo(
        rule="EX-1",
        check="http-client-outside-adapter",
        summary="HTTP client libraries (httpx, requests, aiohttp, urllib3, svcinfra.httpclient) "
        "are imported only in <pkg>/clients/ (one adapter per external API) and the "
        "composition root, never in transport, repository or service code.",
        fix="Put the calls in an adapter under clients/ built on svcinfra.httpclient, behind a "
        "domain port, and inject it from app.py.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report HTTP client imports outside the allowed layers."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            for module in modules(repo, service):
                checked += 1
                if module.layer in _ALLOWED_LAYERS:
                    continue
                reported: set[int] = set()
                for name, line in module.imports:
                    root = next((h for h in _HTTP if name == h or name.startswith(h + ".")), None)
                    if root and line not in reported:
                        reported.add(line)
                        findings.append(
                            self.finding(module.rel, line, f"{root} imported outside clients/")
                        )
        return self.result(findings, checked)


class HttpTimeouts(Rule):
    """Every HTTP client or one-off request states its timeout."""

    info = RuleInfo(
        rule="EX-2",
        check="http-without-timeout",
        summary="httpx / requests / aiohttp / urllib clients and one-off calls pass an explicit "
        "timeout (library defaults are unbounded or too long).",
        fix="Pass timeout=... (httpx.Timeout with connect/read/write/pool), or build the client "
        "with svcinfra.httpclient, whose deadline is mandatory.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report client constructions and module-level calls without `timeout=`."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            for module in modules(repo, service):
                if not module.imports_any("httpx", "requests", "aiohttp", "urllib3", "urllib"):
                    continue
                checked += 1
                aliases = _from_imports(module.tree)
                for node in ast.walk(module.tree):
                    if not isinstance(node, ast.Call):
                        continue
                    name = dotted(node.func)
                    name = aliases.get(name or "", name)
                    if name in _NEEDS_TIMEOUT and not keyword_names(node) & {"timeout", "**"}:
                        findings.append(
                            self.finding(
                                module.rel,
                                node.lineno,
                                f"{name}() without an explicit timeout",
                                column=node.col_offset + 1,
                            )
                        )
        return self.result(findings, checked)


def _from_imports(tree: ast.Module) -> dict[str, str]:
    return {
        alias.asname or alias.name: f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and not node.level
        for alias in node.names
    }
