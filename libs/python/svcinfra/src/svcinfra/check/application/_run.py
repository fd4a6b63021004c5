"""Run the selected rules over a repository and return one `Report` (the use case)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from svcinfra.check._errors import CheckConfigError
from svcinfra.check.adapters import Repo
from svcinfra.check.domain import Finding, RuleInfo, RuleResult
from svcinfra.check.rules import RULES

from ._suppress import NO_REASON, STALE, UNREADABLE, apply, collect

if TYPE_CHECKING:
    from collections.abc import Collection
    from pathlib import Path

    from svcinfra.check.domain import Rule

META = (NO_REASON, STALE, UNREADABLE)
_SUPPRESSIBLE = (".py", ".sql", ".yaml", ".yml", ".toml", "Dockerfile")


def all_infos() -> tuple[RuleInfo, ...]:
    """Every checker rule's description, the checker's own CHK rules last."""
    return (*(rule.info for rule in RULES), *META)


@dataclass(frozen=True, slots=True)
class Report:
    """The outcome of a run.

    Attributes:
        root: the checked folder.
        findings: the findings left after suppressions, in file order.
        results: each rule's own result (findings before suppressions).
        infos: the description of every rule that ran.
        seconds: wall time of the run.
    """

    root: Path
    findings: tuple[Finding, ...]
    results: tuple[RuleResult, ...] = field(repr=False)
    infos: tuple[RuleInfo, ...] = field(repr=False)
    seconds: float = 0.0

    @property
    def clean(self) -> bool:
        """True when nothing is left to report."""
        return not self.findings


def select_rules(
    *, select: Collection[str] = (), ignore: Collection[str] = (), db: bool = False
) -> list[type[Rule]]:
    """The rules to run: those matching `select` (all when empty) and not `ignore`.

    A selector is a spec ID (`PG-6`), a family (`PG`), or a checker rule name.

    Raises:
        CheckConfigError: a selector matches no rule.
    """
    for selector in (*select, *ignore):
        if not any(_matches(selector, info) for info in all_infos()):
            raise CheckConfigError(f"unknown rule {selector!r} in --select / --ignore")
    chosen = []
    for rule in RULES:
        if rule.needs_db and not db:
            continue
        if select and not any(_matches(s, rule.info) for s in select):
            continue
        if any(_matches(s, rule.info) for s in ignore):
            continue
        chosen.append(rule)
    return chosen


def _matches(selector: str, info: RuleInfo) -> bool:
    ids = (info.rule, *info.also)
    return selector in {info.check, *ids, *(rule.split("-", 1)[0] for rule in ids)}


def _wanted(finding: Finding, selectors: Collection[str]) -> bool:
    return bool({finding.rule, finding.check, finding.rule.split("-", 1)[0]} & set(selectors))


def run_check(
    root: Path,
    *,
    select: Collection[str] = (),
    ignore: Collection[str] = (),
    dsn: str | None = None,
) -> Report:
    """Check the repository at `root` and return the report.

    Args:
        root: the repository's root folder.
        select: run only these rules (IDs, families or names); all by default.
        ignore: skip these rules.
        dsn: an admin DSN of a PostgreSQL server; enables the rules that need one (`--db`).

    Raises:
        CheckError: the check cannot run as asked (exit 2), as opposed to findings (exit 1).
    """
    started = time.perf_counter()
    repo = Repo(root)
    repo.memo[("dsn", "")] = dsn
    rules = select_rules(select=select, ignore=ignore, db=dsn is not None)
    results = [rule().check(repo) for rule in rules]
    raw: dict[tuple[str, int, int, str], Finding] = {}
    for result in results:
        for finding in result.findings:
            raw.setdefault((finding.path, finding.line, finding.column, finding.rule), finding)
    findings = list(raw.values())
    if not any(s in {"CHK", "CHK-3", UNREADABLE.check} for s in ignore):
        findings.extend(
            Finding(path, line, 0, UNREADABLE.rule, UNREADABLE.check, reason)
            for path, (line, reason) in sorted(repo.unreadable.items())
        )
    known = {name for info in all_infos() for name in (info.rule, info.check)}
    active = {name for rule in rules for name in (rule.info.rule, rule.info.check)}
    files = [repo.rel(p) for p in repo.files() if p.name.endswith(_SUPPRESSIBLE)]
    kept = apply(findings, collect(repo, files), known=known, active=active)
    if select:
        kept = [f for f in kept if f.rule.startswith("CHK-") or _wanted(f, select)]
    if ignore:
        kept = [f for f in kept if not _wanted(f, ignore)]
    return Report(
        root=repo.root,
        findings=tuple(sorted(kept)),
        results=tuple(results),
        infos=(*(rule.info for rule in rules), *META),
        seconds=time.perf_counter() - started,
    )
