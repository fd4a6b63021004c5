"""PG-10 for `.sql` files: one valid header per file, matching its folder, names unique.

The header grammar and the file checks are the loader's own (`svcinfra.postgres`), so a file the
checker passes is a file `load_queries` loads at start-up.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult
from svcinfra.postgres import QueryLoadError
from svcinfra.postgres._loader import parse_file

if TYPE_CHECKING:
    from pathlib import Path

    from svcinfra.check.adapters import Repo, Service

QUERY_ROOT: Final = ("repository", "postgres")
# what is not code in a query: comments, string literals, dollar-quoted bodies, quoted names
_NOT_CODE: Final = re.compile(
    r"--[^\n]*|/\*.*?\*/|'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\$\w*\$).*?\1", re.DOTALL
)
# placeholders of other drivers and tools: :name (sqlc, SQLAlchemy), %s / %(name)s (psycopg)
_FOREIGN: Final = re.compile(r"(?<![:\w]):[A-Za-z_]\w*|%\(\w+\)s|%s\b")


def query_files(repo: Repo, service: Service) -> list[tuple[Path, str]]:
    """Every `repository/postgres/<model>/sql/*.sql` of the service, with its model."""
    if service.package_dir is None:
        return []
    base = service.package_dir.joinpath(*QUERY_ROOT)
    found = []
    for path in repo.service_files(service, ".sql"):
        if not path.is_relative_to(base):
            continue
        parts = path.relative_to(base).parts
        if len(parts) == 3 and parts[1] == "sql":  # noqa: PLR2004  (<model>/sql/<file>)
            found.append((path, parts[0]))
    return found


class QueryFiles(Rule):
    """Every query file loads: one header, model = folder, one statement, names unique."""

    info = RuleInfo(
        rule="PG-10",
        check="query-files",
        summary="Every file under repository/postgres/<model>/sql/ has exactly one valid "
        "`-- name: <model>__<operation> :one|:many|:exec|:execrows` header naming its folder, "
        "one statement, $1..$n placeholders; names are unique per service; no .sql elsewhere "
        "under repository/.",
        fix="Fix the header as the message says (`-- name: <folder>__<operation> :kind` first, "
        "then the one statement); rename duplicates; keep query files in <model>/sql/.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Parse every query file with the loader's parser."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            if service.package_dir is None:
                continue
            good = {path for path, _ in query_files(repo, service)}
            repository = service.package_dir / "repository"
            for path in repo.service_files(service, ".sql"):
                if path.is_relative_to(repository) and path not in good:
                    findings.append(  # noqa: PERF401  (one finding per match reads clearer as a loop)
                        self.finding(
                            repo.rel(path),
                            1,
                            "query file outside repository/postgres/<model>/sql/; the loader "
                            "never reads it",
                        )
                    )
            seen: dict[str, str] = {}
            for path, model in query_files(repo, service):
                checked += 1
                findings.extend(self._file(repo, path, model, seen))
        return self.result(findings, checked)

    def _file(self, repo: Repo, path: Path, model: str, seen: dict[str, str]) -> list[Finding]:
        rel = repo.rel(path)
        text = repo.text(path)
        if text is None:
            return []
        try:
            loaded = parse_file(text, source=rel, folder=model)
        except QueryLoadError as exc:
            return [self.finding(p.file, max(p.line, 1), p.message) for p in exc.problems]
        code = _NOT_CODE.sub(" ", text)
        foreign = _FOREIGN.search(code)
        if foreign is not None:
            line = code.count("\n", 0, foreign.start()) + 1
            return [
                self.finding(
                    rel,
                    line,
                    f"placeholder {foreign.group(0)} is not PostgreSQL's; use $1..$n (PG-6)",
                )
            ]
        if loaded.name in seen:
            return [
                self.finding(
                    rel, 1, f"duplicate query name {loaded.name} (also in {seen[loaded.name]})"
                )
            ]
        seen[loaded.name] = rel
        return []
