"""A service started as a process: configuration errors, masked logs, signals and exit codes."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

import pytest

from svcinfra.app._gc import GEN0_THRESHOLD
from svcinfra.observability import MASK

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

pytestmark = pytest.mark.e2e

SERVICE = Path(__file__).with_name("sample_service.py")
PG_PASSWORD = "p@ss/w0rd:e2e#1"  # noqa: S105  (URL-unsafe: it also appears URL-encoded)
API_TOKEN = "tok-e2e-9c2b7f31"  # noqa: S105  (a test secret to look for)
SECRETS = (PG_PASSWORD, API_TOKEN)
DRAIN_TIMEOUT = 10.0


def secret_forms() -> set[str]:
    return {form for s in SECRETS for form in (s, quote(s, safe=""), quote_plus(s))}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Service:
    """A running sample service and where its output goes."""

    process: subprocess.Popen[bytes]
    tech_port: int
    api_port: int
    stdout_path: Path
    stderr_path: Path

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text()

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text()

    def entries(self) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.stdout.splitlines()]

    def events(self) -> list[str]:
        return [str(entry["event"]) for entry in self.entries()]

    def readyz(self) -> int | None:
        """The readyz status, or None when nothing answers."""
        return http_status(f"http://127.0.0.1:{self.tech_port}/health/readyz")

    def gc_state(self) -> dict[str, object]:
        """The API's `GET /gc`: the garbage collector's thresholds and frozen object count."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.api_port}/gc", timeout=5) as answer:
            state: dict[str, object] = json.loads(answer.read())
        return state

    def hello(self) -> int | None:
        """The status of the API's `GET /hello`, or None when nothing answers."""
        return http_status(f"http://127.0.0.1:{self.api_port}/hello")

    def wait_until(self, condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if self.process.poll() is not None:
                status = self.process.returncode
                pytest.fail(f"service exited ({status}) before {what}:\n{self.stdout}{self.stderr}")
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} within {timeout}s:\n{self.stdout}{self.stderr}")
            time.sleep(0.05)

    def wait_ready(self) -> None:
        self.wait_until(lambda: self.readyz() == 200, "readiness")

    def wait_exit(self, timeout: float) -> int:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"service still running after {timeout}s:\n{self.stdout}{self.stderr}")


def http_status(url: str) -> int | None:
    """The status of a GET, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (http on loopback)
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)
    except OSError:
        return None


def environment(**overrides: str | None) -> dict[str, str]:
    env = {
        "SERVICE_NAME": "sample",
        "ENV": "dev",
        "HTTP_HOST": "127.0.0.1",
        "API_PORT": str(free_port()),
        "TECH_PORT": str(free_port()),
        "SHUTDOWN_TIMEOUT": str(DRAIN_TIMEOUT),
        "HTTP_DRAIN_DELAY": "0",  # test_app_drain.py covers the drain delay
        "ENV_PREFIX": "SAMPLE_",
        "SAMPLE_POSTGRES_HOST": "db.internal",
        "SAMPLE_POSTGRES_USER": "sample",
        "SAMPLE_POSTGRES_PASSWORD": PG_PASSWORD,
        "SAMPLE_POSTGRES_DB": "sample",
        "SAMPLE_PAYMENTS_API_TOKEN": API_TOKEN,
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


@pytest.fixture(name="start")
def start_fixture(tmp_path: Path) -> Iterator[Callable[..., Service]]:
    """Start sample services; every one still running at the end is killed."""
    started: list[Service] = []

    def start(**overrides: str | None) -> Service:
        env = environment(**overrides)
        n = len(started)
        stdout_path, stderr_path = tmp_path / f"{n}.out", tmp_path / f"{n}.err"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            process = subprocess.Popen(
                [sys.executable, str(SERVICE)], env=env, stdout=out, stderr=err
            )
        tech, api = env.get("TECH_PORT", ""), env.get("API_PORT", "")
        service = Service(
            process,
            int(tech) if tech.isdigit() else 0,
            int(api) if api.isdigit() else 0,
            stdout_path,
            stderr_path,
        )
        started.append(service)
        return service

    yield start
    for service in started:
        if service.process.poll() is None:
            service.process.kill()
            service.process.wait(timeout=10)


def assert_no_secret(service: Service) -> None:
    output = service.stdout + service.stderr
    leaked = {form for form in secret_forms() if form in output}
    assert not leaked, f"secret forms in the output: {leaked}"


def test_invalid_configuration_exits_78_listing_every_problem(
    start: Callable[..., Service],
) -> None:
    """A broken environment exits 78, names every bad variable on stderr, and prints no secret."""
    service = start(SERVICE_NAME=None, ENV="production", TECH_PORT="eighty-eighty")

    status = service.wait_exit(timeout=30)

    assert status == 78
    stderr = service.stderr
    assert stderr.startswith("configuration is invalid:\n")
    for variable in ("SERVICE_NAME", "ENV", "TECH_PORT"):
        assert f"  {variable}: " in stderr
    (entry,) = service.entries()
    assert entry["event"] == "configuration is invalid"
    assert entry["level"] == "error"
    assert len(entry["problems"]) == 3  # type: ignore[arg-type]
    assert "production" not in stderr + service.stdout
    assert_no_secret(service)


def test_start_logs_the_masked_configuration_and_no_secret(start: Callable[..., Service]) -> None:
    """A full start logs the config once, secrets as ***, and no secret in any form anywhere."""
    service = start()
    service.wait_ready()
    service.process.send_signal(signal.SIGTERM)
    assert service.wait_exit(timeout=DRAIN_TIMEOUT + 5) == 0

    entries = service.entries()
    (loaded,) = [e for e in entries if e["event"] == "configuration loaded"]
    config = loaded["config"]
    assert isinstance(config, dict)
    assert config["SAMPLE_POSTGRES_PASSWORD"] == MASK
    assert config["SAMPLE_PAYMENTS_API_TOKEN"] == MASK
    assert config["SAMPLE_POSTGRES_USER"] == "sample"
    (connecting,) = [e for e in entries if e["event"] == "connecting"]
    assert connecting["dsn"] == "postgresql://sample:***@db.internal:5432/sample?sslmode=prefer"
    assert all(e["service"] == "sample" for e in entries)
    assert_no_secret(service)


def test_the_collector_is_tuned_before_serving(start: Callable[..., Service]) -> None:
    """Start-up's objects are frozen and generation 0 collects less often (see `tune_gc`)."""
    service = start()
    service.wait_ready()
    state = service.gc_state()
    service.process.send_signal(signal.SIGTERM)
    assert service.wait_exit(timeout=DRAIN_TIMEOUT + 5) == 0

    assert state["threshold"][0] == GEN0_THRESHOLD  # type: ignore[index]
    assert isinstance(state["frozen"], int)
    assert state["frozen"] > 0


def test_sigterm_drains_in_reverse_order_and_exits_0(start: Callable[..., Service]) -> None:
    """On SIGTERM readyz turns 503, resources close last-opened first, and the exit is 0 in time."""
    service = start()
    service.wait_ready()
    assert service.hello() == 200

    started = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    # `second` takes ~1 s to close; the tech server answers 503 meanwhile.
    service.wait_until(lambda: service.readyz() == 503, "readyz 503 during the drain", timeout=5)
    status = service.wait_exit(timeout=DRAIN_TIMEOUT + 5)

    assert status == 0
    assert time.monotonic() - started < DRAIN_TIMEOUT
    events = service.events()
    closed = [e for e in events if e.startswith("closed ")]
    assert closed == ["closed third", "closed second", "closed first"]
    # The API (a task) stops before any resource closes: uvicorn logs it first.
    assert events.index("Shutting down") < events.index("closing third")
    assert "shutdown complete" in service.events()


def hello_connection_header(port: int) -> str | None:
    """The `Connection` header of a `GET /hello` on a new connection; None when refused."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/hello", timeout=2) as answer:
            return str(answer.headers.get("Connection"))
    except OSError:
        return None


def test_sigterm_serves_through_the_drain_delay_then_stops_accepting(
    start: Callable[..., Service],
) -> None:
    """Issue 17: readiness 503 at once; new connections served with `Connection: close`
    during HTTP_DRAIN_DELAY (a load balancer still routes them); then refused; exit 0."""
    service = start(HTTP_DRAIN_DELAY="3")
    service.wait_ready()

    service.process.send_signal(signal.SIGTERM)
    service.wait_until(lambda: service.readyz() == 503, "readyz 503 after SIGTERM", timeout=2)
    served_while_unready = hello_connection_header(service.api_port)
    service.wait_until(lambda: service.hello() is None, "the API to stop accepting", timeout=10)
    status = service.wait_exit(timeout=DRAIN_TIMEOUT + 5)

    assert served_while_unready == "close"
    assert status == 0
    events = service.events()
    assert events.index("draining: serving until traffic is routed away") < events.index(
        "Shutting down"  # uvicorn: it stops accepting only after the delay
    )
    assert "shutdown complete" in events


@pytest.mark.parametrize("second", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_second_signal_exits_2_at_once(
    start: Callable[..., Service], second: signal.Signals
) -> None:
    """A second signal during a slow drain ends the process at once with status 2."""
    service = start(E2E_MODE="slow", SHUTDOWN_TIMEOUT="120")
    service.wait_ready()

    service.process.send_signal(signal.SIGTERM)
    service.wait_until(lambda: "closing second" in service.events(), "the slow close", timeout=10)
    service.process.send_signal(second)
    status = service.wait_exit(timeout=10)

    assert status == 2
    events = service.events()
    assert "second signal: exiting at once" in events
    assert "closed second" not in events


def test_a_start_failing_half_way_closes_what_it_opened(start: Callable[..., Service]) -> None:
    """Setup raising after two resources closes both in reverse order and exits 1, masked."""
    service = start(E2E_MODE="fail-start")

    status = service.wait_exit(timeout=DRAIN_TIMEOUT + 5)

    assert status == 1
    events = service.events()
    assert [e for e in events if e.startswith(("opened ", "closed "))] == [
        "opened first",
        "opened second",
        "closed second",
        "closed first",
    ]
    (failure,) = [e for e in service.entries() if e["event"] == "start failed"]
    assert "RuntimeError: cannot reach the payments API with token ***" in str(failure["exception"])
    assert_no_secret(service)


def test_a_crashed_task_shuts_down_and_exits_1(start: Callable[..., Service]) -> None:
    """A task that raises starts a graceful shutdown, and the process exits 1."""
    service = start(E2E_MODE="crash-task")

    status = service.wait_exit(timeout=DRAIN_TIMEOUT + 10)

    assert status == 1
    events = service.events()
    assert "task failed" in events
    assert [e for e in events if e.startswith("closed ")] == [
        "closed third",
        "closed second",
        "closed first",
    ]


def test_a_drain_past_the_timeout_exits_1_naming_what_did_not_finish(
    start: Callable[..., Service],
) -> None:
    """When closing takes longer than SHUTDOWN_TIMEOUT the process logs what is left and exits 1."""
    service = start(E2E_MODE="slow", SHUTDOWN_TIMEOUT="1")
    service.wait_ready()

    started = time.monotonic()
    service.process.send_signal(signal.SIGTERM)
    status = service.wait_exit(timeout=15)

    assert status == 1
    assert time.monotonic() - started < 10
    (incomplete,) = [e for e in service.entries() if e["event"] == "shutdown incomplete"]
    assert incomplete["unfinished"] == ["second", "first", "tech server", "tracing"]


def test_a_signal_during_the_start_cancels_it_and_closes_what_was_opened(
    start: Callable[..., Service],
) -> None:
    """SIGTERM while setup still runs cancels it, closes what it opened, and exits 0."""
    service = start(E2E_MODE="slow-start")
    service.wait_until(lambda: "opened first" in service.events(), "the first resource")
    assert service.readyz() == 503

    service.process.send_signal(signal.SIGTERM)
    status = service.wait_exit(timeout=DRAIN_TIMEOUT + 5)

    assert status == 0
    events = service.events()
    assert "start interrupted by the shutdown" in events
    assert "closed first" in events
    assert "service started" not in events
