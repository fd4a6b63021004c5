"""The tech HTTP server: liveness, readiness and metrics on a port of their own."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Self

from prometheus_client import REGISTRY
from prometheus_client.core import GaugeMetricFamily
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from svcinfra import __version__
from svcinfra.observability import render_metrics

from ._asgi import AsgiServer
from ._lifecycle import Lifecycle, LifecycleState

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

    from prometheus_client import CollectorRegistry
    from prometheus_client.metrics_core import Metric
    from starlette.requests import Request

    from ._lifecycle import CheckResult


class _ServiceCollector:
    """Prometheus collector of what the service is and how ready it was at the last probe."""

    def __init__(self, lifecycle: Lifecycle, *, service: str, env: str) -> None:
        self._lifecycle = lifecycle
        self._labels = [service, env, __version__]

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily(
            "service_info",
            "The service this process runs, its environment and its svcinfra version; always 1.",
            labels=["service", "env", "svcinfra_version"],
        )
        info.add_metric(self._labels, 1.0)
        yield info
        readiness = self._lifecycle.last_readiness
        running = self._lifecycle.state is LifecycleState.RUNNING
        ready = GaugeMetricFamily(
            "service_ready",
            "1 when running and the last readiness probe passed, 0 otherwise.",
        )
        ready.add_metric([], 1.0 if running and readiness is not None and readiness.ready else 0.0)
        yield ready
        check_up = GaugeMetricFamily(
            "service_readiness_check_up",
            "1 when the readiness check passed at the last probe, 0 when it failed.",
            labels=["check"],
        )
        for check in readiness.checks if readiness is not None else ():
            check_up.add_metric([check.name], 1.0 if check.ok else 0.0)
        yield check_up


def _check_body(check: CheckResult) -> dict[str, object]:
    body: dict[str, object] = {
        "status": "ok" if check.ok else "fail",
        "duration_ms": round(check.duration * 1000, 1),
    }
    if check.reason is not None:
        body["reason"] = check.reason
    return body


def build_tech_app(lifecycle: Lifecycle, registry: CollectorRegistry | None = None) -> Starlette:
    """Return the ASGI app of the tech port, for serving by `TechServer` or testing in-process.

    Routes:
        `GET /health/livez`: 200 while the process runs (also during a shutdown).
        `GET /health/readyz`: 200 with every check's result when all pass; 503 when one fails
            (each failing check named with its reason), while starting and once the shutdown
            began, so that Kubernetes stops routing traffic before anything closes.
        `GET /metrics`: every metric of `registry` (the default one by default).
    """

    async def livez(_: Request) -> Response:
        return JSONResponse({"status": "alive"})

    async def readyz(_: Request) -> Response:
        readiness = await lifecycle.check_readiness()
        body = {
            "status": readiness.status,
            "checks": {check.name: _check_body(check) for check in readiness.checks},
        }
        return JSONResponse(body, status_code=200 if readiness.ready else 503)

    async def metrics(request: Request) -> Response:
        body, content_type = render_metrics(registry, accept=request.headers.get("accept", ""))
        return Response(body, media_type=content_type)

    return Starlette(
        routes=[
            Route("/health/livez", livez, methods=["GET"]),
            Route("/health/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
    )


class TechServer:
    """The tech HTTP server: `build_tech_app` served by an `AsgiServer` on its own port.

    Use it as an async context manager, usually through `Lifecycle.enter` before the service's
    own resources, so that it is the last thing to close and readiness keeps answering 503 while
    everything else drains. While it serves, its registry also holds
    `service_info{service,env,svcinfra_version}`, `service_ready` and
    `service_readiness_check_up{check}`.

    Args:
        lifecycle: whose readiness `/health/readyz` reports.
        service: the `service` label of `service_info`.
        env: the `env` label of `service_info`.
        host: the address to listen on.
        port: the port to listen on; 0 picks a free one (see `port`).
        registry: the metrics to serve; prometheus_client's default registry by default.
    """

    def __init__(
        self,
        lifecycle: Lifecycle,
        *,
        service: str,
        env: str,
        host: str = "0.0.0.0",  # noqa: S104  (a pod listens on its own interface)
        port: int = 8081,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._registry = REGISTRY if registry is None else registry
        self._collector = _ServiceCollector(lifecycle, service=service, env=env)
        # Probes every few seconds are noise in an access log; a probe is answered in
        # milliseconds, so one second is plenty to finish those in flight.
        self._server = AsgiServer(
            build_tech_app(lifecycle, self._registry), host=host, port=port, drain_timeout=1
        )

    @property
    def port(self) -> int:
        """The port it listens on.

        Raises:
            RuntimeError: it is not serving.
        """
        return self._server.port

    async def start(self) -> None:
        """Register the service metrics, bind the port and serve; return once it accepts.

        Raises:
            OSError: the port cannot be bound.
            RuntimeError: it is already serving.
        """
        self._registry.register(self._collector)
        try:
            await self._server.start()
        except BaseException:
            self._registry.unregister(self._collector)
            raise

    async def aclose(self) -> None:
        """Stop serving, release the port and remove the service metrics from the registry."""
        try:
            await self._server.aclose()
        finally:
            with contextlib.suppress(KeyError):  # never registered, or already removed
                self._registry.unregister(self._collector)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
