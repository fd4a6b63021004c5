"""The process around a service: start-up, the tech port, signals and graceful shutdown.

    async def setup(lc: Lifecycle, config: UsersConfig) -> None:
        pool = await lc.enter(open_pool(config.postgres))
        lc.add_readiness_check("postgres", pool.ping)
        api = AsgiServer(build_api(pool), host=config.http.host, port=config.http.api_port)
        lc.add_task("api", api.serve, stop=api.request_stop, drain=api.drain)

    def main() -> None:
        run(UsersConfig, setup)

`run` loads the configuration (exit 78 when invalid), logs it masked, serves `/health/livez`,
`/health/readyz` and `/metrics` on the tech port, calls `setup`, freezes what start-up allocated
and raises the collector's generation-0 threshold (`_gc.tune_gc`: a busy server otherwise spends
~90 us a request in collections that find nothing), starts the tasks, and on SIGINT, SIGTERM,
SIGQUIT or SIGHUP turns readiness to 503, keeps an API registered with `drain` serving for
`HTTP_DRAIN_DELAY` (answers with `Connection: close`) while the load balancer routes traffic
away, then stops the tasks and closes the resources in reverse order within the shutdown
timeout. A second signal exits at once with status 2. `AsgiServer`
serves an app inside `AllowedMethods`, so OPTIONS and 405 answers carry the path's real `Allow`.
`RequestTelemetry` is an API's request middleware: metrics, the W3C trace context (no span work
for a request that is not sampled) and the 500 of last resort.
"""

from ._asgi import AsgiServer
from ._lifecycle import CheckResult, Lifecycle, LifecycleState, Readiness, ShutdownReport
from ._methods import AllowedMethods
from ._runner import EXIT_CONFIG, EXIT_FAILURE, EXIT_FORCED, EXIT_OK, SIGNALS, main, run
from ._tech import TechServer, build_tech_app
from ._telemetry import RequestTelemetry

__all__ = [
    "EXIT_CONFIG",
    "EXIT_FAILURE",
    "EXIT_FORCED",
    "EXIT_OK",
    "SIGNALS",
    "AllowedMethods",
    "AsgiServer",
    "CheckResult",
    "Lifecycle",
    "LifecycleState",
    "Readiness",
    "RequestTelemetry",
    "ShutdownReport",
    "TechServer",
    "build_tech_app",
    "main",
    "run",
]
