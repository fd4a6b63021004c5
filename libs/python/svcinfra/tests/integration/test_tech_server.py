"""The tech port answers liveness, readiness and metrics over real HTTP on loopback."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from prometheus_client import CollectorRegistry, Counter

from svcinfra.app import Lifecycle, TechServer
from svcinfra.testing import capture_logs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    content_type: str

    def json(self) -> dict[str, object]:
        return json.loads(self.body)


def _get(port: int, path: str, accept: str | None) -> Reply:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if accept:
        request.add_header("Accept", accept)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (http only)
            return Reply(response.status, response.read(), response.headers["content-type"])
    except urllib.error.HTTPError as error:
        with error:
            return Reply(error.code, error.read(), error.headers["content-type"])


async def get(port: int, path: str, accept: str | None = None) -> Reply:
    """GET from the server, which runs in this event loop, from a thread."""
    return await asyncio.to_thread(_get, port, path, accept)


@dataclass
class Tech:
    lifecycle: Lifecycle
    server: TechServer
    registry: CollectorRegistry

    @property
    def port(self) -> int:
        return self.server.port


@pytest.fixture(name="tech")
async def tech_fixture() -> AsyncIterator[Tech]:
    """A tech server on a free loopback port, with its own metrics registry."""
    lifecycle = Lifecycle()
    registry = CollectorRegistry()
    server = TechServer(
        lifecycle, service="users", env="dev", host="127.0.0.1", port=0, registry=registry
    )
    await lifecycle.enter(server, name="tech server")
    yield Tech(lifecycle, server, registry)
    if lifecycle.state.value in ("starting", "running"):
        await lifecycle.shutdown(timeout=5)


def check(
    result: object = None, *, error: BaseException | None = None
) -> Callable[[], Awaitable[object]]:
    async def run() -> object:
        if error is not None:
            raise error
        return result

    return run


async def test_livez_answers_while_the_process_runs(tech: Tech) -> None:
    """GET /health/livez is 200 whatever the readiness, even while starting."""
    reply = await get(tech.port, "/health/livez")

    assert reply.status == 200
    assert reply.json() == {"status": "alive"}


async def test_readyz_is_503_while_starting(tech: Tech) -> None:
    """Until the start completes, readyz is 503 `starting`, so no traffic arrives too early."""
    reply = await get(tech.port, "/health/readyz")

    assert reply.status == 503
    assert reply.json()["status"] == "starting"


async def test_readyz_is_200_with_every_check_when_all_pass(tech: Tech) -> None:
    """With every check passing, readyz is 200 and lists each check as ok."""
    tech.lifecycle.add_readiness_check("postgres", check())
    tech.lifecycle.add_readiness_check("redis", check(result=True))
    tech.lifecycle.start()

    reply = await get(tech.port, "/health/readyz")

    assert reply.status == 200
    body = reply.json()
    assert body["status"] == "ready"
    assert {name: c["status"] for name, c in body["checks"].items()} == {  # type: ignore[attr-defined]
        "postgres": "ok",
        "redis": "ok",
    }


async def test_readyz_is_503_naming_the_failing_check_without_its_message(tech: Tech) -> None:
    """A failing check makes readyz 503, named with its exception class, never its message."""
    secret_message = "postgres://users:pw-in-message@db refused"  # noqa: S105  (test data)
    tech.lifecycle.add_readiness_check(
        "postgres", check(error=ConnectionRefusedError(secret_message))
    )
    tech.lifecycle.add_readiness_check("redis", check())
    tech.lifecycle.start()

    reply = await get(tech.port, "/health/readyz")

    assert reply.status == 503
    assert reply.json()["checks"] == {
        "postgres": {
            "status": "fail",
            "duration_ms": pytest.approx(0, abs=1000),
            "reason": "ConnectionRefusedError",
        },
        "redis": {"status": "ok", "duration_ms": pytest.approx(0, abs=1000)},
    }
    assert b"pw-in-message" not in reply.body


async def test_a_hanging_check_times_out_at_its_timeout(tech: Tech) -> None:
    """A check that hangs fails as a timeout after its own timeout, not the client's."""

    async def hangs() -> None:
        await asyncio.Event().wait()

    tech.lifecycle.add_readiness_check("broker", hangs, timeout=0.2)
    tech.lifecycle.start()

    started = time.monotonic()
    reply = await get(tech.port, "/health/readyz")
    elapsed = time.monotonic() - started

    assert reply.status == 503
    assert reply.json()["checks"]["broker"]["reason"] == "timeout after 0.2s"  # type: ignore[index]
    assert 0.2 <= elapsed < 5


async def test_readyz_is_503_once_the_shutdown_began(tech: Tech) -> None:
    """While resources drain, the tech server still answers, and readyz says 503 `stopping`."""
    tech.lifecycle.add_readiness_check("postgres", check())
    replies: list[Reply] = []

    async def close_pool() -> None:
        replies.append(await get(tech.port, "/health/readyz"))
        replies.append(await get(tech.port, "/health/livez"))

    tech.lifecycle.push_close("pool", close_pool)
    tech.lifecycle.start()
    assert (await get(tech.port, "/health/readyz")).status == 200

    report = await tech.lifecycle.shutdown(timeout=10)

    assert report.clean
    assert [(r.status, r.json()["status"]) for r in replies] == [(503, "stopping"), (200, "alive")]


async def test_metrics_expose_the_service_info_and_readiness(tech: Tech) -> None:
    """/metrics is the Prometheus text format with service_info and per-check readiness."""
    Counter("orders_created", "Orders created.", registry=tech.registry).inc()
    tech.lifecycle.add_readiness_check("postgres", check())
    tech.lifecycle.add_readiness_check("redis", check(result=False))
    tech.lifecycle.start()
    await get(tech.port, "/health/readyz")

    reply = await get(tech.port, "/metrics")

    text = reply.body.decode()
    assert reply.status == 200
    assert reply.content_type.startswith("text/plain; version=0.0.4")
    assert 'service_info{env="dev",service="users",svcinfra_version="' in text
    assert "service_ready 0.0" in text
    assert 'service_readiness_check_up{check="postgres"} 1.0' in text
    assert 'service_readiness_check_up{check="redis"} 0.0' in text
    assert "orders_created_total 1.0" in text


async def test_metrics_speak_openmetrics_when_asked(tech: Tech) -> None:
    """A scraper asking for OpenMetrics (needed for exemplars) gets it."""
    reply = await get(tech.port, "/metrics", accept="application/openmetrics-text; version=1.0.0")

    assert reply.content_type.startswith("application/openmetrics-text")
    assert reply.body.endswith(b"# EOF\n")


async def test_closing_releases_the_port_and_the_metrics() -> None:
    """After close, the port is free again and the service metrics leave the registry."""
    lifecycle, registry = Lifecycle(), CollectorRegistry()
    server = TechServer(
        lifecycle, service="users", env="dev", host="127.0.0.1", port=0, registry=registry
    )
    async with server:
        port = server.port
        assert (
            registry.get_sample_value(
                "service_info", {"service": "users", "env": "dev", "svcinfra_version": "0.1.0"}
            )
            == 1.0
        )

    assert registry.get_sample_value("service_ready") is None
    with socket.create_server(("127.0.0.1", port)):
        pass


async def test_a_busy_port_fails_the_start() -> None:
    """Starting on a port in use raises OSError instead of exiting the process."""
    with socket.create_server(("127.0.0.1", 0)) as taken:
        server = TechServer(
            Lifecycle(),
            service="users",
            env="dev",
            host="127.0.0.1",
            port=taken.getsockname()[1],
            registry=CollectorRegistry(),
        )
        with pytest.raises(OSError, match="in use"):
            await server.start()


async def test_uvicorn_logs_as_json(tech: Tech) -> None:
    """The server's own uvicorn lines go through the JSON logging of the service."""
    with capture_logs(service="users") as logs:
        await tech.lifecycle.shutdown(timeout=5)

    assert any(e["logger"].startswith("uvicorn") for e in logs.entries)
    assert all(e["service"] == "users" for e in logs.entries)
