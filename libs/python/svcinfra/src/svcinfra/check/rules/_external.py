"""EX-1 / EX-2: HTTP clients only in adapters (`clients/`), and never without a timeout."""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING, Final

from svcinfra.check.adapters import Kind, modules, types_of
from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult

if TYPE_CHECKING:
    from svcinfra.check.adapters import Repo, TypeMap

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
        summary="httpx / requests / aiohttp / urllib clients and one-off calls pass an explicit, "
        "bounded timeout (library defaults are unbounded or too long; timeout=None is no "
        "timeout); a requests session's calls each pass one (a session has no default).",
        fix="Pass timeout=... (httpx.Timeout with connect/read/write/pool), or build the client "
        "with svcinfra.httpclient, whose deadline is mandatory.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report constructions and calls without `timeout=`, or with `timeout=None`.

        Names are followed through the module's imports (`import httpx as hx; hx.get(url)`), and
        a requests session is known by type (`requests.Session().get(url)`,
        `s: requests.Session`).
        """
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            for module in modules(repo, service):
                if not module.imports_any("httpx", "requests", "aiohttp", "urllib3", "urllib"):
                    continue
                checked += 1
                types = types_of(module.tree)
                for node in ast.walk(module.tree):
                    if not isinstance(node, ast.Call):
                        continue
                    name = types.qualified(node.func)
                    if name not in _NEEDS_TIMEOUT:
                        name = _session_call(types, node)
                        if name is None:
                            continue
                    problem = _timeout_problem(node)
                    if problem:
                        findings.append(
                            self.finding(
                                module.rel,
                                node.lineno,
                                f"{name}() {problem}",
                                column=node.col_offset + 1,
                            )
                        )
        return self.result(findings, checked)


def _session_call(types: TypeMap, node: ast.Call) -> str | None:
    """`requests.Session.get` for a verb called on a requests session, else None."""
    if not isinstance(node.func, ast.Attribute) or node.func.attr not in _VERBS:
        return None
    found = types.kind_of(node.func.value, types.function_of(node))
    if found is None or found.kind is not Kind.REQUESTS:
        return None
    return f"requests.Session.{node.func.attr}"


def _timeout_problem(node: ast.Call) -> str | None:
    for keyword in node.keywords:
        if keyword.arg is None:
            return None  # **options may carry it
        if keyword.arg == "timeout":
            value = keyword.value
            if isinstance(value, ast.Constant) and value.value is None:
                return "with timeout=None (no timeout at all)"
            return None
    return "without an explicit timeout"
