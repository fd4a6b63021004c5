"""PG-2 / PG-3: goose migrations at `<pkg>/cli/migrations/`, well named, well formed, linted.

The grammar is `svcinfra.postgres.migrate`'s goose parser, so a file the checker passes is a file
the migrator runs. `migration-files` also warns on the constructs where goose's grammar surprises
(and where svcinfra before issue 15 differed from goose): see `goose_quirks` and docs/goose.md.
The Up part of every file is also linted with squawk (PyPI `squawk-cli`), in one run for the whole
repository.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from svcinfra.check._errors import CheckConfigError
from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult, Severity
from svcinfra.postgres.migrate import (
    MigrationFileError,
    MigrationParseError,
    parse_sql,
    parse_version,
)

if TYPE_CHECKING:
    from svcinfra.check.adapters import Repo, Service

MIGRATIONS: Final = ("cli", "migrations")
_NAME: Final = re.compile(r"^(?P<stamp>\d{14})_(?P<name>[a-z0-9]+(?:_[a-z0-9]+)*)\.sql$")
_IRREVERSIBLE: Final = re.compile(
    r"^--\s*irreversible:\s*(?P<reason>\S.*)$", re.IGNORECASE | re.MULTILINE
)
_DOWN: Final = re.compile(r"^--.*\+goose\s+down\b", re.IGNORECASE)
_NO_TX: Final = re.compile(r"^--.*\+goose\s+no\s+transaction\b", re.IGNORECASE | re.MULTILINE)
_ENVSUB: Final = re.compile(r"^--.*\+goose\s+envsub\s+(?P<state>on|off)\b", re.IGNORECASE)
_WORD: Final = re.compile(r"\S+")


class _EverySetEmpty(Mapping[str, str]):
    """An environment where every variable is set and empty (`${VAR?message}` passes).

    ENVSUB sections are checked for grammar, not for the values of this machine.
    """

    def __getitem__(self, key: str) -> str:
        return ""

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, key: object) -> bool:
        return True


_NO_ENV: Final = _EverySetEmpty()


def migration_dir(service: Service) -> Path | None:
    """Where the service's migrations must live: `<package>/cli/migrations/`."""
    return service.package_dir.joinpath(*MIGRATIONS) if service.package_dir else None


def _uses_postgres(repo: Repo, service: Service) -> bool:
    if service.package_dir is None:
        return False
    if (service.package_dir / "repository" / "postgres").is_dir():
        return True
    return any("+goose" in (repo.text(p) or "") for p in repo.service_files(service, ".sql"))


class MigrationLayout(Rule):
    """Migrations exist where the migrator looks for them, and nowhere else."""

    info = RuleInfo(
        rule="PG-2",
        check="migrations-location",
        summary="A service that uses Postgres keeps its goose migrations in <pkg>/cli/migrations/ "
        "and nowhere else.",
        fix="Move the file into <pkg>/cli/migrations/ (shipped as package data) and create new "
        "ones with `svcinfra migrate create NAME`.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report services without the folder and goose files outside it."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            folder = migration_dir(service)
            if folder is None or not _uses_postgres(repo, service):
                continue
            checked += 1
            if not folder.is_dir():
                findings.append(
                    self.finding(
                        service.rel,
                        0,
                        f"service {service.name} uses Postgres but has no "
                        f"{repo.rel(folder)}/ folder",
                    )
                )
            for path in repo.service_files(service, ".sql"):
                if path.parent != folder and "+goose" in (repo.text(path) or ""):
                    findings.append(  # noqa: PERF401  (one finding per match reads clearer as a loop)
                        self.finding(
                            repo.rel(path),
                            1,
                            f"goose migration outside {repo.rel(folder)}/; the migrator never "
                            "runs it",
                        )
                    )
        return self.result(findings, checked)


class MigrationFiles(Rule):
    """Every migration file is named, versioned and structured as goose expects."""

    info = RuleInfo(
        rule="PG-3",
        check="migration-files",
        summary="Migration files are <14-digit UTC timestamp>_<snake_name>.sql, unique, not in the "
        "future, valid goose SQL with an Up part and a Down part (or `-- irreversible: reason`).",
        fix="Create migrations with `svcinfra migrate create NAME`; write `-- +goose Up` and "
        "`-- +goose Down` sections, or state `-- irreversible: <why>` when Down cannot exist.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Parse every migration file of every service with the migrator's parser."""
        findings: list[Finding] = []
        checked = 0
        now = datetime.now(UTC)
        for service in repo.services:
            folder = migration_dir(service)
            if folder is None or not folder.is_dir():
                continue
            versions: dict[int, str] = {}
            for path in sorted(folder.glob("*.sql")):
                checked += 1
                findings.extend(self._file(repo, path, now, versions))
        return self.result(findings, checked)

    def _file(
        self, repo: Repo, path: Path, now: datetime, versions: dict[int, str]
    ) -> Iterator[Finding]:
        rel = repo.rel(path)
        match = _NAME.match(path.name)
        if match is None:
            yield self.finding(
                rel, 0, f"{path.name} is not <YYYYMMDDhhmmss>_<snake_name>.sql (goose create)"
            )
        else:
            yield from self._stamp(rel, match.group("stamp"), now)
        try:
            version = parse_version(path.name)
        except MigrationFileError as exc:
            yield self.finding(rel, 0, str(exc))
        else:
            if version in versions:
                yield self.finding(rel, 0, f"version {version} is also {versions[version]}")
            versions.setdefault(version, path.name)
        text = repo.text(path)
        if text is None:
            return
        for line, message in goose_quirks(text):
            yield self.finding(rel, line, message, severity=Severity.WARNING)
        try:
            parsed = parse_sql(text, source=rel, env=_NO_ENV)
        except MigrationParseError as exc:
            yield self.finding(rel, exc.line, exc.reason)
            return
        if not parsed.up:
            yield self.finding(rel, 1, "the Up part has no statement")
        if not parsed.down and not _IRREVERSIBLE.search(text):
            yield self.finding(
                rel,
                1,
                "no Down statements; write the `-- +goose Down` part, or declare "
                "`-- irreversible: <reason>`",
            )

    def _stamp(self, rel: str, stamp: str, now: datetime) -> Iterator[Finding]:
        try:
            when = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=UTC)
        except ValueError:
            yield self.finding(rel, 0, f"{stamp} is not a valid UTC timestamp")
            return
        if when > now:
            yield self.finding(rel, 0, f"timestamp {stamp} is in the future")


class MigrationLint(Rule):
    """squawk finds no unsafe statement in the Up part of any migration."""

    info = RuleInfo(
        rule="PG-2",
        check="migration-lint",
        summary="squawk (run as goose runs them: in a transaction unless NO TRANSACTION) finds "
        "no unsafe or non-robust statement in the Up part of a migration.",
        fix="Follow squawk's help in the message, or silence one statement with "
        "`-- squawk-ignore <rule>` on the line above it, with a comment saying why.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Copy every Up part into a scratch folder (lines kept) and run squawk once on all."""
        files: list[Path] = []
        for service in repo.services:
            folder = migration_dir(service)
            if folder is not None and folder.is_dir():
                files.extend(sorted(folder.glob("*.sql")))
        if not files:
            return self.result([], 0)
        squawk = _squawk()
        findings: list[Finding] = []
        with tempfile.TemporaryDirectory(prefix="svcinfra-squawk-") as scratch:
            copies: dict[str, str] = {}
            for index, path in enumerate(files):
                text = repo.text(path)
                if text is None:
                    continue
                copy = Path(scratch) / f"{index:06d}.sql"
                copy.write_text(_up_part(text), encoding="utf-8")
                copies[str(copy)] = repo.rel(path)
            for item in _run_squawk(squawk, list(copies)):
                source = copies.get(str(item.get("file")))
                if source is None:
                    continue
                level = Severity.ERROR if item.get("level") == "Error" else Severity.WARNING
                findings.append(
                    self.finding(
                        source,
                        int(item.get("line", 0)) + 1,
                        f"squawk {item.get('rule_name')}: {item.get('message')} "
                        f"{item.get('help') or ''}".strip(),
                        column=int(item.get("column", 0)) + 1,
                        severity=level,
                    )
                )
        return self.result(findings, len(files))


def goose_quirks(text: str) -> Iterator[tuple[int, str]]:
    """Yield (line, message) for each construct goose reads otherwise than a reader would.

    Each is a place where svcinfra's migrator and goose used to disagree (issue 15); both now
    follow goose, so the file means the same to both tools, but likely not what its author meant.
    """
    envsub = False
    open_quote = False  # a single-quoted literal left open by the statement's earlier lines
    for number, line in enumerate(text.split("\n"), start=1):
        stripped = line.strip()
        if (match := _ENVSUB.match(stripped)) is not None:
            envsub = match.group("state").lower() == "on"
            continue
        if not stripped or (stripped.startswith("--") and not open_quote):
            continue
        words = _WORD.findall(line)
        cut = next((i for i, w in enumerate(words) if w.startswith("--")), len(words))
        code = " ".join(words[:cut])
        if envsub and "$$" in line:
            yield (
                number,
                (
                    "`$$` under `-- +goose ENVSUB ON`: goose turns it into `$` (a dollar-quoted "
                    "body breaks); put `-- +goose ENVSUB OFF` around the body, or tag it: `$body$`"
                ),
            )
        if envsub and re.search(r"\$\{[A-Za-z]\w*\?", line):
            yield (
                number,
                (
                    "`${VAR?message}`: when VAR is unset, goose's CLI applies the files before "
                    "this one and stops here, svcinfra applies none of the run (docs/goose.md)"
                ),
            )
        if cut < len(words) and (open_quote + code.count("'")) % 2 == 1:
            yield (
                number,
                (
                    "`--` inside a string literal: goose (issue #699) reads it as a comment, so a "
                    "`;` after it does not end the statement; write the literal as '-' || '-'"
                ),
            )
        elif cut < len(words) and open_quote:
            yield (
                number,
                (
                    "a multi-line string closes on this line before a `--` comment: goose ends the "
                    "statement at the `;` before the comment (svcinfra before issue 15 did not)"
                ),
            )
        open_quote = (open_quote + line.count("'")) % 2 == 1


def _up_part(text: str) -> str:
    """The file with its Down part blanked, so squawk's line numbers stay the file's."""
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if _DOWN.match(line):
            lines[index:] = [""] * (len(lines) - index)
            break
    if _NO_TX.search(text):
        lines.append("-- squawk-disable-assume-in-transaction")
    return "\n".join(lines)


def _squawk() -> str:
    beside = Path(sys.executable).parent / "squawk"
    found = str(beside) if beside.is_file() else shutil.which("squawk")
    if found is None:
        raise CheckConfigError(
            "squawk is not installed; install svcinfra's `check` extra (PyPI squawk-cli) or "
            "--ignore migration-lint"
        )
    return found


def _run_squawk(squawk: str, paths: list[str]) -> list[dict[str, Any]]:
    done = subprocess.run(  # noqa: S603  (our own squawk, on files we wrote)
        [squawk, "--reporter", "json", "--assume-in-transaction", *paths],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    output = done.stdout.strip()
    if done.returncode not in (0, 1) or not output.startswith("["):
        raise CheckConfigError(f"squawk failed (exit {done.returncode}): {done.stderr.strip()}")
    items = json.loads(output)
    return [item for item in items if isinstance(item, dict)]
