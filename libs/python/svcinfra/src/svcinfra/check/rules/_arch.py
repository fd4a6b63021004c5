"""ARCH-1 / PG-7: the domain imports no driver, SDK, svcinfra adapter, pydantic or adapter layer.

The import graph is grimp's (the engine of import-linter), built per service package with the
external packages kept. A domain module's own forbidden imports are reported at their line; a
forbidden package the domain reaches through the service's other modules
(`domain -> util/models.py -> pydantic`) is reported at the domain module's import that starts
the chain, with the whole chain printed.
"""

from __future__ import annotations

import contextlib
import re
import sys
from typing import TYPE_CHECKING, Any, Final

import grimp

from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult

if TYPE_CHECKING:
    from collections.abc import Iterator

    from svcinfra.check.adapters import Repo, Service

# external package -> the spec rule its import from the domain breaks
_FORBIDDEN: Final = {
    "asyncpg": "PG-7",
    "psycopg": "PG-7",
    "psycopg2": "PG-7",
    "sqlalchemy": "PG-7",
    "redis": "ARCH-1",
    "aio_pika": "ARCH-1",
    "aiormq": "ARCH-1",
    "pika": "ARCH-1",
    "httpx": "ARCH-1",
    "requests": "ARCH-1",
    "aiohttp": "ARCH-1",
    "boto3": "ARCH-1",
    "botocore": "ARCH-1",
    "pydantic": "ARCH-1",
    "pydantic_settings": "ARCH-1",
    "fastapi": "ARCH-1",
    "starlette": "ARCH-1",
}
# svcinfra's adapters; svcinfra.config and svcinfra.testing are not drivers
_SVCINFRA: Final = re.compile(
    r"svcinfra(?:\.|\s+import\s+(?:\(\s*)?)(postgres|cache|messaging|httpclient|app|envtool)\b"
)
# the service's own adapter layers, which implement the domain's ports
_ADAPTER_LAYERS: Final = ("repository", "cache", "mq", "clients", "transport", "app", "cli")


class DomainImports(Rule):
    """The service's `domain` package depends on no infrastructure, directly or indirectly."""

    info = RuleInfo(
        rule="ARCH-1",
        check="domain-imports-infrastructure",
        summary="The domain (entities, ports, services) imports no driver, SDK, svcinfra adapter, "
        "pydantic, or the service's own adapter packages.",
        also=("PG-7",),
        fix="Declare a Protocol port in domain/ and implement it in repository/, cache/, mq/ or "
        "clients/; wire the adapter to the port in app.py.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Build each service's import graph and report every forbidden import from its domain."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            if service.package is None or service.package_dir is None:
                continue
            domain = f"{service.package}.domain"
            if not (service.package_dir / "domain").is_dir():
                continue
            checked += 1
            findings.extend(self._service(repo, service, domain))
        return self.result(findings, checked)

    def _service(self, repo: Repo, service: Service, domain: str) -> Iterator[Finding]:
        assert service.package is not None  # noqa: S101  (checked by the caller)
        graph = _graph(service)
        if graph is None:
            return
        modules = {m for m in graph.modules if m == domain or m.startswith(domain + ".")}
        adapters = tuple(f"{service.package}.{layer}" for layer in _ADAPTER_LAYERS)
        yield from self._chains(repo, service, graph, modules, adapters)
        for importer in sorted(modules):
            for imported in sorted(graph.find_modules_directly_imported_by(importer)):
                top = imported.split(".")[0]
                rule = self._verdict(imported, top, adapters)
                for detail in graph.get_import_details(importer=importer, imported=imported):
                    line = detail["line_number"]
                    text = detail["line_contents"]
                    if top == "svcinfra":
                        match = _SVCINFRA.search(text)
                        if match is None:
                            continue
                        rule = "PG-7" if match.group(1) == "postgres" else "ARCH-1"
                        what = f"svcinfra.{match.group(1)}"
                    elif rule is None:
                        continue
                    else:
                        what = imported
                    yield self.finding(
                        _file(repo, service, importer),
                        line,
                        f"the domain module {importer} imports {what}: `{text.strip()}`",
                        rule=rule,
                    )

    def _chains(
        self,
        repo: Repo,
        service: Service,
        graph: Any,  # noqa: ANN401  (grimp's graph is untyped)
        domain: set[str],
        adapters: tuple[str, ...],
    ) -> Iterator[Finding]:
        """Forbidden packages reached through a module outside the domain."""
        targets = {m: m for m in graph.modules if "." not in m and m in _FORBIDDEN}
        # svcinfra is one external package to grimp: its adapters are told apart by the lines
        # that import them, so such a chain ends at the module importing an adapter
        if "svcinfra" in graph.modules:
            for module in graph.find_modules_that_directly_import("svcinfra"):
                what = _svcinfra_adapter(graph, module)
                if what is not None:
                    targets[module] = what
        for importer in sorted(domain):
            # a hop into the domain or an adapter layer is reported where it is imported
            hops = sorted(
                hop
                for hop in graph.find_modules_directly_imported_by(importer)
                if hop not in domain
                and hop.split(".")[0] == importer.split(".")[0]
                and self._verdict(hop, hop.split(".")[0], adapters) is None
            )
            reached = _reached(graph, importer, hops, targets)
            for what, chain in sorted(reached.items()):
                top = what.split(".")[0]
                rule = _FORBIDDEN.get(top, "PG-7" if what == "svcinfra.postgres" else "ARCH-1")
                details = graph.get_import_details(importer=importer, imported=chain[1])
                line = details[0]["line_number"] if details else 0
                yield self.finding(
                    _file(repo, service, importer),
                    line,
                    f"the domain module {importer} reaches {what} through {' -> '.join(chain)}",
                    rule=rule,
                )

    @staticmethod
    def _verdict(imported: str, top: str, adapters: tuple[str, ...]) -> str | None:
        if top in _FORBIDDEN:
            return _FORBIDDEN[top]
        if any(imported == a or imported.startswith(a + ".") for a in adapters):
            return "PG-7" if ".repository" in imported else "ARCH-1"
        return "ARCH-1" if top == "svcinfra" else None


def _reached(
    graph: Any,  # noqa: ANN401  (grimp's graph is untyped)
    importer: str,
    hops: list[str],
    targets: dict[str, str],
) -> dict[str, tuple[str, ...]]:
    """The shortest chain from `importer` through one of `hops` to each forbidden target.

    `targets` maps a module to what reaching it means (`pydantic` -> `pydantic`, a module
    importing svcinfra's Postgres adapter -> `svcinfra.postgres`). Ties go to the first hop in
    sorted order, so that the report is the same on every run.
    """
    reached: dict[str, tuple[str, ...]] = {}
    for hop in hops:
        for target, what in sorted(targets.items()):
            tail = (hop,) if hop == target else graph.find_shortest_chain(hop, target)
            if tail is None:
                continue
            chain = (importer, *tail) if what == target else (importer, *tail, "svcinfra")
            if what not in reached or len(chain) < len(reached[what]):
                reached[what] = chain
    return reached


def _svcinfra_adapter(graph: Any, importer: str) -> str | None:  # noqa: ANN401  (grimp's graph is untyped)
    """`svcinfra.<adapter>` that `importer` imports, read off its import lines, or None."""
    for detail in graph.get_import_details(importer=importer, imported="svcinfra"):
        match = _SVCINFRA.search(detail["line_contents"])
        if match is not None:
            return f"svcinfra.{match.group(1)}"
    return None


def _file(repo: Repo, service: Service, module: str) -> str:
    assert service.package_dir is not None  # noqa: S101  (checked by the caller)
    parts = module.split(".")[1:]
    base = service.package_dir.joinpath(*parts)
    path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
    return repo.rel(path)


def _graph(service: Service) -> Any:  # noqa: ANN401  (grimp's graph is untyped)
    """Grimp's graph of the package, found on the service's `src/` without importing it."""
    assert service.package is not None  # noqa: S101  (checked by the caller)
    assert service.package_dir is not None  # noqa: S101  (checked by the caller)
    source = str(service.package_dir.parent)
    name = service.package
    # another package of the same name may be imported already (sample repos share names)
    saved = {k: v for k, v in sys.modules.items() if k == name or k.startswith(name + ".")}
    for key in saved:
        del sys.modules[key]
    sys.path.insert(0, source)
    try:
        return grimp.build_graph(name, include_external_packages=True, cache_dir=None)
    except (grimp.exceptions.GrimpException, ValueError, ModuleNotFoundError):
        # a module that does not parse is reported as CHK-3 from the AST pass
        return None
    finally:
        with contextlib.suppress(ValueError):
            sys.path.remove(source)
        sys.modules.update(saved)
