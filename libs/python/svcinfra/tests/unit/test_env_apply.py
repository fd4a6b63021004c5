"""`svcinfra env plan/apply` against a fake `gh` first on PATH (CF-5, CF-2, CF-4).

The fake records every call's argv and standard input, and keeps environments where some entries
exist already; nothing here reaches GitHub.
"""

from __future__ import annotations

import importlib.util
import logging
import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from svcinfra.__main__ import main
from svcinfra.config import load_config
from svcinfra.envtool import SecretKind, generated_files, load_service, schema, secret_kind

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "env"
_spec = importlib.util.spec_from_file_location("envkit", ASSETS / "envkit.py")
assert _spec is not None
assert _spec.loader is not None
envkit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(envkit)

USERS = ASSETS / "services" / "internal" / "users"
MAILER = ASSETS / "services" / "jobs" / "mailer-job"
EXISTING_SECRET = "already-there-7f3a"  # noqa: S105  (a test value to look for)
ENVS = ["--gh-env", "ai-staging", "--gh-env", "staging"]
VALUES = ["--set", "USERS_POSTGRES_USER=users_role", "--set", "USERS_POSTGRES_DB=users_db"]
# What `apply` must not create in each environment: entries that exist, and optional ones.
OPTIONAL = {
    ("variable", "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ("variable", "TRACE_SAMPLE_RATIO"),
    ("variable", "USERS_REDIS_USERNAME"),
    ("variable", "USERS_POSTGRES_STATEMENT_CACHE_SIZE"),  # unset: by POSTGRES_POOLER (issue 14)
    ("secret", "USERS_REDIS_PASSWORD"),
    # Client certificates, only for servers that ask for one (issue 17).
    ("variable", "USERS_POSTGRES_CERT_FILE"),
    ("variable", "USERS_POSTGRES_KEY_FILE"),
    ("variable", "USERS_REDIS_CERT_FILE"),
    ("variable", "USERS_REDIS_KEY_FILE"),
}
EXISTING = {
    "ai-staging": {
        ("variable", "ENV"),
        ("variable", "USERS_POSTGRES_DB"),
        ("variable", "LOG_LEVEL"),
        ("secret", "USERS_POSTGRES_PASSWORD"),
    },
    "staging": {("variable", "ENV")},
}


@pytest.fixture(name="gh")
def _gh(tmp_path: Path):
    """A fake gh whose ai-staging has some of the users service's entries and staging only ENV."""
    return envkit.FakeGh(
        tmp_path / "gh",
        {
            "ai-staging": {
                "variables": {
                    "ENV": "ai-staging",
                    "USERS_POSTGRES_DB": "users_old",
                    "LOG_LEVEL": "DEBUG",
                },
                "secrets": {"USERS_POSTGRES_PASSWORD": EXISTING_SECRET},
            },
            "staging": {"variables": {"ENV": "staging"}, "secrets": {}},
        },
    )


def run(gh, *args: str, path: str | None = None) -> Result:
    return CliRunner().invoke(main, ["env", *args], env=gh.environ(path))


def expected_writes() -> set[tuple[str, str, str]]:
    """(environment, kind, name) of everything the users service misses, by the fixture's state."""
    managed = {(e.variable.kind, e.name) for e in schema(load_service(USERS)) if e.in_github}
    return {
        (env, kind, name)
        for env in ("ai-staging", "staging")
        for kind, name in managed - OPTIONAL - EXISTING[env]
    }


def secret_writes(gh) -> dict[tuple[str, str], str]:
    """The value each `secret set` received on standard input, by (environment, name)."""
    out = {}
    for call in gh.writes():
        if call["argv"][0] == "secret":
            out[call["argv"][4], call["argv"][2]] = call["stdin"]
    return out


def assert_secret_shape(name: str, value: str) -> None:
    kind = secret_kind(name)
    assert len(value) == kind.length, name
    assert set(value) <= set(kind.alphabet), name


def test_plan_lists_what_is_missing_in_each_environment_and_changes_nothing(gh) -> None:
    """`plan` marks existing (=), to create (+), needing a value (!) and optional (-) entries."""
    result = run(gh, "plan", str(USERS), *ENVS)
    lines = [" ".join(line.split()) for line in result.stdout.splitlines()]
    staging = lines.index(next(line for line in lines if line.startswith("staging:")))

    assert result.exit_code == 0, result.output
    assert gh.writes() == []
    assert lines[0].startswith("ai-staging:")
    assert "= variable USERS_POSTGRES_DB exists, never changed" in lines[:staging]
    assert "= secret USERS_POSTGRES_PASSWORD exists, never changed" in lines[:staging]
    assert (
        "+ secret USERS_POSTGRES_PASSWORD create, generated password (32 letters and digits), "
        "sent on stdin"
    ) in lines[staging:]
    assert (
        "! variable USERS_POSTGRES_USER required, no default: give --set USERS_POSTGRES_USER=VALUE"
    ) in lines[staging:]
    assert "+ variable API_PORT create = '8080' (default)" in lines[staging:]
    assert (
        "- secret USERS_REDIS_PASSWORD optional, not created "
        "(create it with --generate USERS_REDIS_PASSWORD)"
    ) in lines[staging:]
    assert [c["argv"][:2] for c in gh.calls()] == [["auth", "status"]] + [
        [kind, "list"] for _ in ("ai-staging", "staging") for kind in ("variable", "secret")
    ]


def test_plan_reads_with_json_names_per_environment(gh) -> None:
    """Existing entries are read with `gh variable|secret list --env E --json name`."""
    run(gh, "plan", str(USERS), *ENVS, "--repo", "acme/shop")

    lists = [c["argv"] for c in gh.calls() if c["argv"][1:2] == ["list"]]

    assert lists == [
        [kind, "list", "--env", env, "--json", "name", "--repo", "acme/shop"]
        for env in ("ai-staging", "staging")
        for kind in ("variable", "secret")
    ]


def test_apply_creates_exactly_the_missing_entries_in_both_environments(gh) -> None:
    """Each missing entry is created once, environment by environment; present ones stay."""
    result = run(gh, "apply", str(USERS), *ENVS, *VALUES)
    written = gh.written()

    assert result.exit_code == 0, result.output
    assert set(written) == expected_writes()
    assert len(written) == len(set(written))
    assert [w[0] for w in written] == sorted(w[0] for w in written)
    assert gh.entries("staging", "variable")["USERS_POSTGRES_DB"] == "users_db"
    assert gh.entries("staging", "variable")["USERS_POSTGRES_USER"] == "users_role"
    assert gh.entries("staging", "variable")["API_PORT"] == "8080"
    assert gh.entries("ai-staging", "variable")["USERS_POSTGRES_DB"] == "users_old"
    assert gh.entries("ai-staging", "variable")["LOG_LEVEL"] == "DEBUG"
    assert gh.entries("ai-staging", "secret")["USERS_POSTGRES_PASSWORD"] == EXISTING_SECRET


def test_secrets_reach_gh_only_on_stdin_and_appear_in_no_output_or_log(
    gh, caplog: pytest.LogCaptureFixture
) -> None:
    """A secret is in no argv, no output and no log; gh gets it on stdin, shaped by its kind."""
    caplog.set_level(logging.DEBUG)
    result = run(gh, "apply", str(USERS), *ENVS, *VALUES, "--generate", "USERS_REDIS_PASSWORD")
    secrets = secret_writes(gh)
    everything_visible = "\n".join(
        [result.stdout, result.stderr, caplog.text, *(" ".join(c["argv"]) for c in gh.calls())]
    )

    assert result.exit_code == 0, result.output
    assert set(secrets) == {
        ("ai-staging", "USERS_REDIS_PASSWORD"),
        ("staging", "USERS_POSTGRES_PASSWORD"),
        ("staging", "USERS_REDIS_PASSWORD"),
    }
    for (env, name), value in secrets.items():
        assert_secret_shape(name, value)
        assert value not in everything_visible
        assert gh.entries(env, "secret")[name] == value
    for call in gh.writes():
        if call["argv"][0] == "secret":
            assert call["argv"] == ["secret", "set", call["argv"][2], "--env", call["argv"][4]]
    assert len(set(secrets.values())) == len(secrets)


def test_each_kind_of_secret_is_generated_with_its_length_and_alphabet(tmp_path: Path) -> None:
    """Password, key and token secrets each get their own length and alphabet."""
    gh = envkit.FakeGh(tmp_path / "gh", {"staging": {"variables": {}, "secrets": {}}})
    args = ["--set", "MAILER_POSTGRES_USER=mailer", "--set", "MAILER_POSTGRES_DB=mailer"]

    result = run(
        gh,
        "apply",
        str(MAILER),
        "--gh-env",
        "staging",
        "--set",
        "ENV=staging",
        *args,
        "--set",
        "MAILER_WEBHOOK_URL=https://hooks.example/mail",
    )
    secrets = secret_writes(gh)

    assert result.exit_code == 0, result.output
    assert {name: secret_kind(name) for _, name in secrets} == {
        "MAILER_POSTGRES_PASSWORD": SecretKind.PASSWORD,
        "MAILER_WEBHOOK_SIGNING_KEY": SecretKind.KEY,
        "MAILER_WEBHOOK_API_TOKEN": SecretKind.TOKEN,
    }
    for (_, name), value in secrets.items():
        assert_secret_shape(name, value)


def test_an_existing_entry_is_never_set_again_whatever_the_flags(gh) -> None:
    """`--set` / `--generate` of existing entries change nothing; a second run writes nothing."""
    first = run(
        gh,
        "apply",
        str(USERS),
        *ENVS,
        *VALUES,
        "--set",
        "LOG_LEVEL=ERROR",
        "--generate",
        "USERS_POSTGRES_PASSWORD",
    )
    writes_after_first = len(gh.writes())
    again = run(gh, "apply", str(USERS), *ENVS, *VALUES, "--set", "ENV=prod")

    assert (first.exit_code, again.exit_code) == (0, 0), first.output + again.output
    assert ("ai-staging", "variable", "LOG_LEVEL") not in gh.written()
    assert ("ai-staging", "secret", "USERS_POSTGRES_PASSWORD") not in gh.written()
    assert ("staging", "variable", "ENV") not in gh.written()
    assert len(gh.writes()) == writes_after_first
    assert gh.entries("ai-staging", "variable")["LOG_LEVEL"] == "DEBUG"
    assert gh.entries("ai-staging", "secret")["USERS_POSTGRES_PASSWORD"] == EXISTING_SECRET
    assert "nothing created" in again.stdout


def test_a_failure_on_the_third_write_is_reported_and_a_rerun_finishes(gh) -> None:
    """The report names what was created, what failed and what was not; a re-run does the rest."""
    gh.update(fail_on_write=3)

    first = run(gh, "apply", str(USERS), *ENVS, *VALUES)
    attempted = gh.written()
    gh.update(fail_on_write=None)
    second = run(gh, "apply", str(USERS), *ENVS, *VALUES)
    retried = gh.written()[len(attempted) :]
    expected = expected_writes()

    assert (first.exit_code, second.exit_code) == (1, 0), first.output + second.output
    created = re.findall(r"^  \+ (\S+): (\w+) (\w+)$", first.stdout, re.MULTILINE)
    not_attempted = re.findall(r"^  - (\S+): (\w+) (\w+)$", first.stdout, re.MULTILINE)
    failed = re.findall(r"^FAILED (\S+): (\w+) (\w+): .*HTTP 502", first.stdout, re.MULTILINE)
    assert created == attempted[:2]
    assert failed == [attempted[2]]
    assert len(attempted) == 3
    assert set(not_attempted) == expected - set(attempted)
    assert f"created 2 of {len(expected)}" in first.stdout
    assert "Re-run the same command" in first.stdout
    assert set(retried) == expected - set(attempted[:2])
    assert len(retried) == len(set(retried))
    assert set(attempted[:2]) | set(retried) == expected


def test_the_pr_snippet_names_what_was_created_where_without_values(gh) -> None:
    """The PR description lists each environment's new variables and secrets, and no value."""
    result = run(gh, "apply", str(USERS), *ENVS, *VALUES)
    snippet = result.stdout[result.stdout.index("**New configuration") :]
    listed = {
        (env, kind.removesuffix("s"), name)
        for env, rest in re.findall(r"^- `(\S+)`: (.*)$", snippet, re.MULTILINE)
        for part in rest.split("; ")
        for kind in [part.split(" ", 1)[0]]
        for name in re.findall(r"`(\w+)`", part)
    }

    assert result.exit_code == 0, result.output
    assert listed == expected_writes()
    assert "users_role" not in snippet
    assert "users_db" not in snippet
    for value in secret_writes(gh).values():
        assert value not in snippet


def test_what_apply_creates_makes_the_manifests_yield_a_valid_config(gh) -> None:
    """Rendered with staging's entries and the cluster's shared hosts, the manifests load."""
    run(gh, "apply", str(USERS), *ENVS, *VALUES)
    service = load_service(USERS)
    staging = gh.entries("staging", "variable") | gh.entries("staging", "secret")
    environ: dict[str, str] = {
        "POSTGRES_HOST": "postgres",
        "REDIS_HOST": "redis",
        # The cluster ConfigMap's TLS settings: staging refuses unverified servers (issue 17).
        "POSTGRES_SSLMODE": "verify-full",
        "POSTGRES_CA_FILE": "/etc/svcinfra/tls/ca.pem",
        "REDIS_TLS": "true",
    }
    for file in generated_files(service)[1:]:
        doc = yaml.safe_load(envkit.render_template(file.text, staging))
        environ |= doc.get("data") or doc.get("stringData") or {}

    config = load_config(service.config, environ)

    assert (config.service.name, config.env_prefix, config.postgres.db) == (
        "users",
        "USERS_",
        "users_db",
    )
    assert config.postgres.host == "postgres"
    assert config.postgres.password.get_secret_value() == staging["USERS_POSTGRES_PASSWORD"]
    assert config.redis.password is None


def test_gh_missing_exits_2_before_anything(gh, tmp_path: Path) -> None:
    """Without gh on PATH, apply exits 2 with how to get it, and runs nothing."""
    empty = tmp_path / "empty"
    empty.mkdir()

    result = CliRunner().invoke(
        main, ["env", "apply", str(USERS), *ENVS, *VALUES], env={"PATH": str(empty)}
    )

    assert result.exit_code == 2
    assert "gh (the GitHub CLI) is not on PATH" in result.stderr
    assert gh.calls() == []


def test_gh_not_authenticated_exits_2_before_anything_changes(gh) -> None:
    """When `gh auth status` fails, apply exits 2 asking to log in, and reads or writes nothing."""
    gh.update(authenticated=False)

    result = run(gh, "apply", str(USERS), *ENVS, *VALUES)

    assert result.exit_code == 2
    assert "gh is not authenticated" in result.stderr
    assert "gh auth login" in result.stderr
    assert [c["argv"] for c in gh.calls()] == [["auth", "status"]]


def test_a_required_variable_without_a_value_stops_apply_before_any_write(gh) -> None:
    """A required variable with no default and no `--set` exits 2 asking for it; nothing is set."""
    result = run(gh, "apply", str(USERS), *ENVS, "--set", "USERS_POSTGRES_DB=users_db")

    assert result.exit_code == 2
    assert "nothing was changed" in result.stderr
    assert "give --set USERS_POSTGRES_USER=VALUE" in result.stderr
    assert gh.writes() == []


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--set", "USERS_POSTGRES_PASSWORD=hunter2"], "is a secret; secrets are generated"),
        (["--set", "NOT_OURS=1"], "not a variable this service keeps in GitHub"),
        (["--set", "USERS_POSTGRES_HOST=db"], "not a variable this service keeps in GitHub"),
        (["--set", "USERS_POSTGRES_USER="], "empty value"),
        (["--generate", "USERS_POSTGRES_DB"], "not a secret of this service"),
    ],
    ids=["secret-on-argv", "unknown", "shared-fallback", "empty", "generate-a-variable"],
)
def test_a_bad_option_is_refused_before_gh_runs(gh, option: list[str], message: str) -> None:
    """Options the schema does not allow exit 2 with the reason, before any gh call."""
    result = run(gh, "apply", str(USERS), *ENVS, *VALUES, *option)

    assert result.exit_code == 2
    assert message in result.stderr
    assert "hunter2" not in result.output
    assert gh.calls() == []


def test_an_unknown_environment_fails_while_reading_and_changes_nothing(gh) -> None:
    """A gh failure while reading exits 1, says nothing changed, and writes nothing."""
    result = run(gh, "apply", str(USERS), "--gh-env", "staging", "--gh-env", "prod", *VALUES)

    assert result.exit_code == 1
    assert "HTTP 404" in result.stderr
    assert "nothing was changed" in result.stderr
    assert gh.writes() == []
