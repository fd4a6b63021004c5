"""`make run`'s launcher as a user runs it: everything ready, URLs printed, Ctrl-C stops it all."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

import asyncpg
import pytest
from devstack import ROLES, Secrets, Stack, http_status

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.rabbitmq]

TOOLS = Path(__file__).resolve().parents[2] / "tools"
READY_LINE = "Ctrl-C stops everything."
LISTED = re.compile(
    r"^\s+(?P<name>[a-z0-9-]+)\s+pid (?P<pid>\d+)\s+tech (?P<tech>http://\S+)", re.MULTILINE
)


def wait_for_output(process: subprocess.Popen[bytes], out: Path, err: Path) -> str:
    deadline = time.monotonic() + 90
    while READY_LINE not in out.read_text():
        if process.poll() is not None:
            pytest.fail(f"the launcher exited ({process.returncode}):\n{err.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"the launcher was not ready within 90 s:\n{err.read_text()}")
        time.sleep(0.1)
    return out.read_text()


async def databases_like(pattern: str, dsn: str) -> list[str]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", pattern
        )
    finally:
        await connection.close()
    return [row["datname"] for row in rows]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_run_prints_urls_and_sigint_stops_everything_cleanly(
    run_id: str, postgres_server: str, redis_server: str, amqp_server: str, tmp_path: Path
) -> None:
    """`devstack run`: five ready processes, their URLs, no secret shown; SIGINT exits 0."""
    del redis_server, amqp_server
    run = f"{run_id}cli"
    secrets_file, logs = tmp_path / "secrets.env", tmp_path / "logs"
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    command = [sys.executable, "-m", "devstack", "run", "--run-id", run, "--free-ports"]
    command += ["--log-dir", str(logs), "--secrets-file", str(secrets_file)]
    with out.open("wb") as stdout, err.open("wb") as stderr:
        launcher = subprocess.Popen(
            command, env=os.environ | {"PYTHONPATH": str(TOOLS)}, stdout=stdout, stderr=stderr
        )
    listed: dict[str, re.Match[str]] = {}
    try:
        listed = {m["name"]: m for m in LISTED.finditer(wait_for_output(launcher, out, err))}
        assert set(listed) == set(ROLES)
        for match in listed.values():
            assert http_status(f"{match['tech']}/health/readyz") == 200, match["name"]
        assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600

        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=60) == 0
    finally:
        if launcher.poll() is None:  # the test failed: leave nothing behind
            launcher.kill()
            launcher.wait()
            for match in listed.values():
                if alive(int(match["pid"])):
                    os.kill(int(match["pid"]), signal.SIGKILL)
            Stack(run_id=run).teardown()

    assert not [name for name, m in listed.items() if alive(int(m["pid"]))]
    assert "stopped: " in err.read_text()
    assert asyncio.run(databases_like(f"%{run}", postgres_server)) == []
    vhosts = subprocess.run(
        ["rabbitmqctl", "-s", "list_vhosts"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert f"svcinfra_{run}" not in vhosts
    output = out.read_text() + err.read_text()
    output += "".join(path.read_text() for path in logs.glob("*.log"))
    secrets = Secrets.load_or_create(secrets_file)
    forms = {f for s in secrets for f in (s, quote(s, safe=""), quote_plus(s))}
    assert not [form for form in forms if form in output]
