"""`fake-mail serve` as a process: start, send, replay, a dropped connection, env, SIGTERM."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from svcinfra.testing import until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = pytest.mark.e2e

BODY = {"to": "ada@example.com", "subject": "Welcome", "text": "Hello, Ada."}
COMMAND = shutil.which("fake-mail", path=str(Path(sys.executable).parent))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Served:
    """A running `fake-mail serve` and what it wrote."""

    def __init__(self, process: subprocess.Popen[str], api: str, tech: str, key: str) -> None:
        self.process = process
        self.api = api
        self.tech = tech
        self.key = key

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.api, headers={"Authorization": f"Bearer {self.key}"}, timeout=10
        )

    def stop(self) -> tuple[int, str, str]:
        self.process.send_signal(signal.SIGTERM)
        out, err = self.process.communicate(timeout=30)
        return self.process.returncode, out, err


def _environ(key: str, **extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_MAIL_", "API_"))}
    environ.update(
        SERVICE_NAME="fake-mail",
        ENV="dev",
        ENV_PREFIX="FAKE_MAIL_",
        HTTP_HOST="127.0.0.1",
        API_PORT=str(_free_port()),
        TECH_PORT=str(_free_port()),
        FAKE_MAIL_API_KEY=key,
        SHUTDOWN_TIMEOUT="10",
        HTTP_DRAIN_DELAY="0",  # no balancer in front: stop at once (issue 17)
        **extra,
    )
    return environ


def _start(**extra: str) -> Served:
    assert COMMAND is not None, "the fake-mail console script is not installed in the venv"
    key = secrets.token_urlsafe(24)
    environ = _environ(key, **extra)
    process = subprocess.Popen(
        [COMMAND, "serve"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    api = f"http://127.0.0.1:{environ['API_PORT']}"
    tech = f"http://127.0.0.1:{environ['TECH_PORT']}"
    return Served(process, api, tech, key)


def _ready(served: Served) -> bool:
    assert served.process.poll() is None, served.process.communicate()
    try:
        return httpx.get(f"{served.tech}/health/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    served = _start()
    try:
        await until(lambda: _ready(served), timeout=30, interval=0.05)
        yield served
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.communicate()


async def test_serves_replays_drops_and_stops_on_sigterm(served: Served) -> None:
    """Send, replay, a crash seen as a dropped connection, its replay; exit 0 on SIGTERM."""
    key = f"e2e-{uuid.uuid4()}"
    async with served.client() as client:
        first = await client.post("/v1/messages", json=BODY, headers={"Idempotency-Key": key})
        assert first.status_code == 202
        replay = await client.post("/v1/messages", json=BODY, headers={"Idempotency-Key": key})
        assert (replay.status_code, replay.headers["Idempotent-Replayed"]) == (200, "true")
        assert replay.json() == first.json()

        assert (
            await client.put("/v1/faults", json={"script": [{"crash_after_accept": True}]})
        ).is_success
        crashed = f"e2e-{uuid.uuid4()}"
        with pytest.raises(httpx.RemoteProtocolError, match="without sending"):
            await client.post("/v1/messages", json=BODY, headers={"Idempotency-Key": crashed})
        retry = await client.post("/v1/messages", json=BODY, headers={"Idempotency-Key": crashed})
        assert retry.status_code == 200
        record = (await client.get("/v1/messages")).json()["messages"]
        assert [m["idempotency_key"] for m in record] == [key, crashed]
        assert retry.json()["id"] == record[1]["id"]

    async with httpx.AsyncClient(base_url=served.tech) as tech:
        metrics = (await tech.get("/metrics")).text
        assert (await tech.get("/health/livez")).status_code == 200
    assert "fake_mail_messages_accepted_total 2.0" in metrics
    assert 'fake_mail_faults_injected_total{kind="crash_after_accept"} 1.0' in metrics

    status, out, err = served.stop()
    assert status == 0, err
    entries = [json.loads(line) for line in out.splitlines()]
    assert entries[-1]["event"] == "service stopped"
    assert any(e["event"] == "message accepted" for e in entries)
    assert "ASGI callable" not in out + err
    assert served.key not in out + err


async def test_faults_from_the_environment_apply_from_the_start() -> None:
    """FAKE_MAIL_SCRIPT and FAKE_MAIL_REJECT are in force before any PUT /v1/faults."""
    served = _start(
        FAKE_MAIL_SCRIPT='[{"status": 429, "retry_after": 7}, {"status": 502}]',
        FAKE_MAIL_REJECT="@blocked.test",
    )
    try:
        await until(lambda: _ready(served), timeout=30, interval=0.05)
        async with served.client() as client:
            key = {"Idempotency-Key": f"e2e-{uuid.uuid4()}"}
            limited = await client.post("/v1/messages", json=BODY, headers=key)
            assert (limited.status_code, limited.headers["Retry-After"]) == (429, "7")
            assert (await client.post("/v1/messages", json=BODY, headers=key)).status_code == 502
            assert (await client.post("/v1/messages", json=BODY, headers=key)).status_code == 202
            blocked = {**BODY, "to": "x@blocked.test"}
            rejected = await client.post(
                "/v1/messages", json=blocked, headers=key | {"Idempotency-Key": "r"}
            )
            assert rejected.status_code == 422
            assert (await client.get("/v1/faults")).json()["reject"] == ["@blocked.test"]
    finally:
        status, out, err = served.stop()
    assert status == 0, err
    assert served.key not in out + err


def test_a_broken_environment_exits_78_naming_the_variables() -> None:
    """No API key and a bad script: exit 78 (EX_CONFIG), each variable named, no value shown."""
    assert COMMAND is not None
    key = secrets.token_urlsafe(24)
    environ = _environ(key, FAKE_MAIL_SCRIPT="[{oops")
    del environ["FAKE_MAIL_API_KEY"]
    environ["FAKE_MAIL_ERROR_STATUS"] = "418"
    result = subprocess.run(
        [COMMAND, "serve"], env=environ, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 78
    for variable in ("FAKE_MAIL_API_KEY", "FAKE_MAIL_SCRIPT", "FAKE_MAIL_ERROR_STATUS"):
        assert variable in result.stderr


async def test_the_api_key_never_reaches_the_logs() -> None:
    """A wrong key, the right one, and the config dump: the key is masked or absent (CF-3)."""
    served = _start(LOG_LEVEL="DEBUG")
    try:
        await until(lambda: _ready(served), timeout=30, interval=0.05)
        async with httpx.AsyncClient() as anonymous:
            wrong = await anonymous.get(
                f"{served.api}/v1/messages", headers={"Authorization": f"Bearer {served.key}x"}
            )
        assert wrong.status_code == 401
        async with served.client() as client:
            assert (await client.get("/v1/messages")).status_code == 200
    finally:
        status, out, err = served.stop()
    assert status == 0, err
    config = next(json.loads(line) for line in out.splitlines() if '"configuration loaded"' in line)
    assert config["config"]["FAKE_MAIL_API_KEY"] == "***"
    assert served.key not in out + err
