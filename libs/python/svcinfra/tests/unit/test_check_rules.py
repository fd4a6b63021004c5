"""Each checker rule: the good sample repo is clean, each bad sample repo breaks its rule."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from svcinfra.check import RULES, CheckConfigError, Severity, run_check, select_rules

ASSETS = Path(__file__).parents[1] / "assets" / "check"
P = "services/internal/users/src/users"


def sample(tmp_path: Path, case: str | None = None) -> Path:
    """Copy the good repo, then lay the bad case's files over it (DELETE lists removals)."""
    repo = tmp_path / "repo"
    shutil.copytree(ASSETS / "good", repo)
    if case is None:
        return repo
    overlay = ASSETS / "bad" / case
    for source in sorted(overlay.rglob("*")):
        if not source.is_file():
            continue
        rel = source.relative_to(overlay)
        if rel.name == "DELETE":
            for line in source.read_text().split():
                (repo / line).unlink()
            continue
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, repo / rel)
    return repo


def found(repo: Path, **options: object) -> set[tuple[str, str, str, int]]:
    """(rule, check, path with the package shortened to P, line) of every finding."""
    report = run_check(repo, **options)  # type: ignore[arg-type]
    return {(f.rule, f.check, f.path.replace(P, "P"), f.line) for f in report.findings}


def test_good_repo_is_clean(tmp_path: Path) -> None:
    """The good sample repo, shaped like the reference services, has no finding at all."""
    report = run_check(sample(tmp_path))
    assert report.findings == ()
    assert len(report.results) == len(RULES) - 1  # every rule but the --db one ran


CASES = [
    (
        "arch",
        {
            ("PG-7", "domain-imports-infrastructure", "P/domain/service/users.py", 3),
            ("ARCH-1", "domain-imports-infrastructure", "P/domain/service/users.py", 4),
            ("PG-7", "domain-imports-infrastructure", "P/domain/service/users.py", 6),
        },
    ),
    (
        "migrations-location",
        {
            ("PG-2", "migrations-location", "P/migrations/20260101000000_stray.sql", 1),
        },
    ),
    (
        "migration-files",
        {
            ("PG-3", "migration-files", "P/cli/migrations/20260102000000_no_down.sql", 1),
            ("PG-3", "migration-files", "P/cli/migrations/20260103000000_bad_grammar.sql", 3),
            ("PG-3", "migration-files", "P/cli/migrations/2026_bad_name.sql", 0),
            ("PG-3", "migration-files", "P/cli/migrations/29990101000000_future.sql", 0),
        },
    ),
    (
        "migration-lint",
        {
            ("PG-2", "migration-lint", "P/cli/migrations/20260105000000_email_index.sql", 4),
        },
    ),
    (
        "sql-built",
        {
            ("PG-6", "execute-built-string", "P/repository/postgres/users/search.py", 6),
            ("PG-6", "sql-built-from-strings", "P/repository/postgres/users/search.py", 6),
            ("PG-6", "sql-built-from-strings", "P/repository/postgres/users/search.py", 7),
            ("PG-6", "sql-built-from-strings", "P/repository/postgres/users/search.py", 8),
            ("PG-6", "execute-built-string", "P/repository/postgres/users/search.py", 9),
            ("PG-6", "sql-built-from-strings", "P/repository/postgres/users/search.py", 9),
        },
    ),
    (
        "sql-in-string",
        {
            ("PG-10", "sql-in-string", "P/repository/postgres/users/inline.py", 3),
        },
    ),
    (
        "query-files",
        {
            ("PG-10", "query-files", "P/repository/postgres/users/sql/get_by_id.sql", 1),
            ("PG-10", "query-files", "P/repository/postgres/users/sql/no_header.sql", 1),
            ("PG-10", "query-files", "P/repository/postgres/users/sql/wrong_model.sql", 1),
            ("PG-10", "query-files", "P/repository/postgres/users/stray.sql", 1),
        },
    ),
    (
        "queries-from-resources",
        {
            ("PG-10", "queries-from-resources", "P/repository/postgres/users/files.py", 8),
        },
    ),
    (
        "positional-row-access",
        {
            ("PG-8", "positional-row-access", "P/repository/postgres/users/rows.py", 7),
        },
    ),
    (
        "repository-layout",
        {
            ("PG-9", "repository-layout", "P", 0),
            ("PG-9", "repository-layout", "P/transport/http.py", 3),
        },
    ),
    (
        "network-call-in-transaction",
        {
            ("PG-12", "network-call-in-transaction", "P/repository/postgres/users/register.py", 8),
            ("PG-12", "network-call-in-transaction", "P/repository/postgres/users/register.py", 9),
        },
    ),
    (
        "redis",
        {
            ("RD-2", "redis-write-without-ttl", "P/cache/store.py", 16),
            ("RD-3", "redis-key-format", "P/cache/store.py", 16),
            ("RD-4", "redis-serialization", "P/cache/store.py", 16),
            ("RD-6", "redis-pubsub-for-contract-message", "P/cache/store.py", 18),
        },
    ),
    (
        "contract-missing",
        {
            ("MQ-1", "asyncapi-contract", "services/internal/users", 0),
        },
    ),
    (
        "contract-invalid",
        {
            ("MQ-2", "asyncapi-contract", "P/api/server/asyncapi.yaml", 80),
        },
    ),
    (
        "contract-names",
        {
            ("MQ-1", "contract-message-names", "P/api/server/asyncapi.yaml", 72),
            ("MQ-1", "contract-message-names", "P/mq/publisher.py", 10),
        },
    ),
    (
        "secrets",
        {
            ("CF-2", "hard-coded-secret", "P/settings_defaults.py", 3),
            ("CF-2", "hard-coded-secret", "P/settings_defaults.py", 4),
        },
    ),
    (
        "env-prefix",
        {
            ("CF-4", "env-prefix", "services/internal/users/pyproject.toml", 0),
        },
    ),
    (
        "environ",
        {
            ("CF-6", "environ-outside-config", "P/domain/service/flags.py", 9),
        },
    ),
    (
        "http",
        {
            ("EX-2", "http-without-timeout", "P/clients/mail.py", 10),
            ("EX-2", "http-without-timeout", "P/clients/mail.py", 11),
            ("EX-2", "http-without-timeout", "P/clients/mail.py", 12),
            ("EX-1", "http-client-outside-adapter", "P/transport/handlers.py", 3),
        },
    ),
    (
        "no-dockerfile",
        {
            ("CI-1", "service-dockerfile", "services/dev/fake-mail", 0),
            ("CI-3", "services-yaml", "services.yaml", 20),
        },
    ),
    (
        "unpinned",
        {
            ("CI-2", "pinned-images", "services.yaml", 13),
            ("CI-2", "pinned-images", "services/dev/fake-mail/Dockerfile", 1),
            ("CI-2", "pinned-images", "services/dev/fake-mail/Dockerfile", 2),
        },
    ),
    (
        "undeclared",
        {
            ("CI-3", "services-yaml", "services.yaml", 20),
            ("CI-3", "services-yaml", "services/dev/fake-mail", 0),
        },
    ),
    (
        "dev-in-prod",
        {
            ("CI-6", "dev-services-only-in-dev", "services.yaml", 20),
        },
    ),
    (
        "no-services-yaml",
        {
            ("CI-3", "services-yaml", "services.yaml", 0),
        },
    ),
]


@pytest.mark.parametrize(("case", "expected"), CASES, ids=[case for case, _ in CASES])
def test_bad_repo_breaks_its_rule(tmp_path: Path, case: str, expected: set[tuple]) -> None:
    """Each bad sample repo yields exactly the findings of the rule it breaks, at file:line."""
    rules = {rule for rule, _, _, _ in expected}
    report = found(sample(tmp_path, case), select=sorted(rules))
    assert report == expected


def test_prose_starting_with_a_keyword_is_not_sql(tmp_path: Path) -> None:
    """A sentence that PostgreSQL happens to parse ("Select a user from the list") is prose."""
    report = found(sample(tmp_path, "sql-in-string"), select=["sql-in-string"])
    assert {line for *_, line in report} == {3}


def test_irreversible_marker_stands_in_for_down(tmp_path: Path) -> None:
    """A migration without Down but with `-- irreversible: reason` is accepted."""
    report = found(sample(tmp_path, "migration-files"), select=["migration-files"])
    assert not any("irreversible" in path for _, _, path, _ in report)


def test_committed_env_file_and_token_formats_are_secrets(tmp_path: Path) -> None:
    """A `.env` file outside git's ignore list and a GitHub-token-shaped literal are CF-2."""
    repo = sample(tmp_path)
    (repo / "services/internal/users/.env").write_text("USERS_POSTGRES_PASSWORD=x\n")
    token = "ghp_" + "a1B2c3D4e5" * 4
    (repo / P / "tokens.py").write_text(f'"""Tokens."""\n\nVALUE = "{token}"\n')
    report = found(repo, select=["CF-2"])
    assert report == {
        ("CF-2", "hard-coded-secret", "services/internal/users/.env", 0),
        ("CF-2", "hard-coded-secret", "P/tokens.py", 3),
    }


def test_ignore_removes_a_family(tmp_path: Path) -> None:
    """`--ignore RD` drops every RD-* rule and keeps the rest."""
    report = run_check(sample(tmp_path, "redis"), ignore=["RD"])
    assert all(not f.rule.startswith("RD-") for f in report.findings)


def test_warnings_have_warning_severity(tmp_path: Path) -> None:
    """PG-12 is advice: its findings are warnings."""
    report = run_check(sample(tmp_path, "network-call-in-transaction"), select=["PG-12"])
    assert {f.severity for f in report.findings} == {Severity.WARNING}


def test_a_secret_named_plain_field_is_a_warning_that_not_secret_silences(tmp_path: Path) -> None:
    """config-secret-name (CF-3): `api_key: str` warns; NotSecret("why") or SecretStr does not."""
    repo = sample(tmp_path)
    (repo / P / "partner_settings.py").write_text(
        '"""Partner settings."""\n\n'
        "from typing import Annotated\n\n"
        "from pydantic import SecretStr\n\n"
        "from svcinfra.config import NotSecret, Section\n\n\n"
        "class PartnerSettings(Section):\n"
        "    api_key: str\n"
        '    publishable_api_key: Annotated[str, NotSecret("public by design")]\n'
        "    client_secret: SecretStr\n"
        "    routing_key: str\n",
    )
    report = run_check(repo, select=["config-secret-name"])
    assert [(f.path.replace(P, "P"), f.line, f.severity) for f in report.findings] == [
        ("P/partner_settings.py", 11, Severity.WARNING),
    ]


def test_suppression_needs_a_reason_and_a_known_rule(tmp_path: Path) -> None:
    """A reasoned suppression silences; a bare or unknown one is CHK-1; a stale one is CHK-2."""
    report = found(sample(tmp_path, "suppressions"), select=["PG-10"])
    where = "P/repository/postgres/users/suppressed.py"
    assert report == {
        ("CHK-1", "suppression-without-reason", where, 5),
        ("PG-10", "sql-in-string", where, 5),
        ("CHK-1", "suppression-without-reason", where, 6),
        ("CHK-2", "unused-suppression", where, 7),
    }


def test_suppression_of_a_rule_that_did_not_run_is_not_stale(tmp_path: Path) -> None:
    """With --select CI, PG-10 suppressions are neither used nor reported as stale."""
    report = found(sample(tmp_path, "suppressions"), select=["CI"])
    assert not any(rule == "CHK-2" for rule, *_ in report)


def test_sql_suppression_uses_dash_comments(tmp_path: Path) -> None:
    """In a migration, `-- svcinfra: ignore[PG-3] -- reason` silences the line below."""
    repo = sample(tmp_path)
    migration = repo / P / "cli/migrations/20260106000000_legacy.sql"
    migration.write_text(
        "-- svcinfra: ignore[PG-3] -- imported from the legacy system as it was\n"
        "-- +goose Up\nSELECT 1;\n"
    )
    assert found(repo, select=["PG-3"]) == set()


@pytest.mark.parametrize("selector", ["XX-1", "no-such-rule"], ids=["id", "name"])
def test_unknown_selector_is_a_configuration_error(selector: str) -> None:
    """An unknown rule in --select is a usage error, not a finding."""
    with pytest.raises(CheckConfigError, match=selector):
        select_rules(select=[selector])


def test_missing_folder_is_a_configuration_error(tmp_path: Path) -> None:
    """A PATH that is not a folder cannot be checked."""
    with pytest.raises(CheckConfigError, match="not a folder"):
        run_check(tmp_path / "missing")


def test_unparseable_python_is_reported(tmp_path: Path) -> None:
    """A service module with a syntax error is CHK-3, so its findings are not silently lost."""
    repo = sample(tmp_path)
    (repo / P / "broken.py").write_text("def (:\n")
    assert ("CHK-3", "unreadable-file", "P/broken.py", 1) in found(repo, select=["PG-10"])


def test_goose_quirks_are_warned_at_their_lines(tmp_path: Path) -> None:
    """PG-3 warns where goose reads a file otherwise than its author likely meant (issue 15)."""
    report = run_check(sample(tmp_path, "goose-quirks"), select=["migration-files"])
    quirks = [f for f in report.findings if f.path.endswith("_goose_quirks.sql")]
    assert {(f.line, f.severity) for f in quirks} == {
        (2, Severity.WARNING),  # `--` inside a string literal (goose #699)
        (5, Severity.WARNING),  # multi-line string closed before a trailing comment
        (7, Severity.WARNING),  # ${VAR?message} under ENVSUB ON
        (9, Severity.WARNING),  # $$ under ENVSUB ON
    }
    assert all(f.rule == "PG-3" for f in quirks)
