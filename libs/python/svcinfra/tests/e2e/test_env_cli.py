"""`svcinfra env` run as a user runs it: a process, with a fake `gh` first on PATH (CF-5)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "env"
_spec = importlib.util.spec_from_file_location("envkit", ASSETS / "envkit.py")
assert _spec is not None
assert _spec.loader is not None
envkit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(envkit)

MAILER = ASSETS / "services" / "jobs" / "mailer-job"
USERS = ASSETS / "services" / "internal" / "users"
VALUES = [
    "--set", "ENV=staging",
    "--set", "MAILER_POSTGRES_USER=mailer",
    "--set", "MAILER_POSTGRES_DB=mailer",
    "--set", "MAILER_WEBHOOK_URL=https://hooks.example/mail",
]  # fmt: skip


def svcinfra(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "svcinfra", "env", *args],
        capture_output=True,
        text=True,
        env=os.environ | env,
        timeout=120,
        check=False,
    )


def test_apply_as_a_process_creates_the_missing_entries_and_prints_the_pr_snippet(
    tmp_path: Path,
) -> None:
    """A real `svcinfra env apply` fills an empty environment, secrets on stdin, and says so."""
    gh = envkit.FakeGh(tmp_path / "gh", {"staging": {"variables": {}, "secrets": {}}})

    done = svcinfra("apply", str(MAILER), "--gh-env", "staging", *VALUES, env=gh.environ())
    secrets = {c["argv"][2]: c["stdin"] for c in gh.writes() if c["argv"][0] == "secret"}

    assert done.returncode == 0, done.stderr
    assert set(secrets) == {
        "MAILER_POSTGRES_PASSWORD",
        "MAILER_WEBHOOK_SIGNING_KEY",
        "MAILER_WEBHOOK_API_TOKEN",
    }
    assert all(value and value not in done.stdout + done.stderr for value in secrets.values())
    assert "- `staging`: variables `ENV`, `SHUTDOWN_TIMEOUT`" in done.stdout
    assert gh.entries("staging", "variable")["MAILER_WEBHOOK_URL"] == "https://hooks.example/mail"


def test_apply_without_gh_exits_2_as_a_process(tmp_path: Path) -> None:
    """Without gh on PATH the process exits 2 and says how to get gh."""
    empty = tmp_path / "empty"
    empty.mkdir()

    done = svcinfra("apply", str(MAILER), *VALUES, env={"PATH": str(empty)})

    assert done.returncode == 2
    assert "gh (the GitHub CLI) is not on PATH" in done.stderr


def test_check_as_a_process_passes_on_the_committed_fixture_services() -> None:
    """`svcinfra env check` exits 0 when every generated file of the services is fresh."""
    done = svcinfra("check", str(USERS), str(MAILER), env={})

    assert done.returncode == 0, done.stderr
