"""`run`: the process around a service, from its configuration to its exit status."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import signal
import sys
from typing import TYPE_CHECKING, Generic, NoReturn, TypeVar

from svcinfra.config import Config, ConfigError, load_config
from svcinfra.observability import (
    configure_logging,
    configure_tracing,
    get_logger,
    is_secret_key,
    mask_secrets,
)

from ._gc import tune_gc
from ._lifecycle import Lifecycle, _consume
from ._tech import TechServer

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

C = TypeVar("C", bound=Config)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_FORCED = 2
EXIT_CONFIG = 78  # os.EX_CONFIG (sysexits.h), spelled out: os.EX_CONFIG does not exist on Windows

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT, signal.SIGHUP)

_SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")

_log = get_logger("svcinfra.app")


def run(
    config_cls: type[C],
    setup: Callable[[Lifecycle, C], Awaitable[object]],
    *,
    environ: Mapping[str, str] | None = None,
) -> NoReturn:
    """Run the service and exit the process with `main`'s status; a service's entry point.

    A service's `__main__.py` is one call:

        def main() -> None:
            run(UsersConfig, setup)
    """
    sys.exit(main(config_cls, setup, environ=environ))


def main(
    config_cls: type[C],
    setup: Callable[[Lifecycle, C], Awaitable[object]],
    *,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Run a service until a signal or a failure stops it; return the process exit status.

    1. Load `config_cls` from the environment. If it is invalid, print every problem (variable:
       message, never a value) to stderr, log them as one JSON line and return 78 (EX_CONFIG).
    2. Configure JSON logging with the config's secrets masked; log `config.safe_dump()` once.
    3. Configure tracing; serve the tech port (`TechServer`); `await setup(lifecycle, config)`,
       which opens resources into the lifecycle and registers readiness checks and tasks.
    4. Run until SIGINT, SIGTERM, SIGQUIT or SIGHUP, or until a task fails. Then shut down
       gracefully: readiness answers 503 at once; a task registered with a `drain` hook (the
       API) keeps serving, answering `Connection: close`, for `http.drain_delay` seconds while
       Kubernetes routes traffic away; then tasks stop (the API stops accepting and finishes
       what is in flight) and resources close in reverse order, within
       `service.shutdown_timeout`.

    Exit status: 0 after a clean shutdown; 1 when the start failed (after closing what it
    opened), a task failed, or a close failed; 78 for an invalid configuration. Two cases end
    the process at once, without returning: a second signal (status 2), and a shutdown that
    left something running past the shutdown timeout (status 1), whose abandoned tasks could
    otherwise keep the event loop from closing.

    Args:
        config_cls: the service's `Config` subclass.
        setup: the service's composition root.
        environ: the environment to read; `os.environ` by default.
    """
    env = os.environ if environ is None else environ
    try:
        config = load_config(config_cls, env)
    except ConfigError as exc:
        return _configuration_invalid(exc, env)
    configure_logging(
        service=config.service.name,
        level=config.observability.log_level,
        secrets=config.secret_values(),
    )
    _log.info("configuration loaded", config=config.safe_dump())
    return asyncio.run(_Runner(config, setup).run())


def _configuration_invalid(error: ConfigError, env: Mapping[str, str]) -> int:
    # Problems never hold values; masking whatever is set under a secret-looking name is a
    # second line of defence, for stderr as much as for the log line.
    secrets = [value for name, value in env.items() if value and is_secret_key(name)]
    name = env.get("SERVICE_NAME", "")
    configure_logging(
        service=name if _SERVICE_NAME.match(name) else "unknown",
        level="INFO",
        secrets=secrets,
    )
    lines = ["configuration is invalid:", *(f"  {problem}" for problem in error.problems)]
    sys.stderr.write(mask_secrets("\n".join(lines)) + "\n")
    sys.stderr.flush()
    _log.error("configuration is invalid", problems=[str(problem) for problem in error.problems])
    return EXIT_CONFIG


def _flush_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe must not stop the exit
            stream.flush()


class _Runner(Generic[C]):
    """One run of a service: start, wait for a signal or a failure, shut down."""

    def __init__(self, config: C, setup: Callable[[Lifecycle, C], Awaitable[object]]) -> None:
        self._config = config
        self._setup = setup
        self._lifecycle = Lifecycle()
        self._signals = 0
        self._start_failed = False
        self._drain_spent = 0.0  # of the shutdown timeout, spent cancelling an interrupted setup

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            if await self._start():
                # What start-up built lives as long as the process: out of the collector's way.
                tune_gc()
                self._lifecycle.start()
                _log.info("service started", pid=os.getpid())
                await self._lifecycle.wait_for_shutdown()
            report = await self._lifecycle.shutdown(
                timeout=max(0.0, self._config.service.shutdown_timeout - self._drain_spent),
                reason="start failed" if self._start_failed else "shutdown",
                drain_delay=self._config.http.drain_delay,
            )
        finally:
            for signum in SIGNALS:
                loop.remove_signal_handler(signum)
        failed = self._start_failed or bool(self._lifecycle.crashed_tasks) or not report.clean
        status = EXIT_FAILURE if failed else EXIT_OK
        (_log.error if failed else _log.info)("service stopped", exit_status=status)
        if report.unfinished:
            _flush_streams()
            os._exit(status)
        return status

    async def _start(self) -> bool:
        """Open everything; return whether the service may run (False: stopping or failed)."""
        config, lifecycle = self._config, self._lifecycle
        try:
            provider = configure_tracing(
                service=config.service.name,
                env=config.service.env.value,
                ratio=config.observability.sample_ratio(config.service.env),
                otlp_endpoint=config.observability.otlp_endpoint,
                insecure=config.observability.otlp_insecure,
            )
            # Shut down (and flushed) last, so that spans of the shutdown itself are exported.
            lifecycle.push_close("tracing", functools.partial(asyncio.to_thread, provider.shutdown))
            tech = TechServer(
                lifecycle,
                service=config.service.name,
                env=config.service.env.value,
                host=config.http.host,
                port=config.http.tech_port,
            )
            await lifecycle.enter(tech, name="tech server")
            _log.info("tech server listening", host=config.http.host, port=tech.port)
            return await self._run_setup()
        except Exception:  # noqa: BLE001  (whatever the composition root raises fails the start)
            self._start_failed = True
            _log.exception("start failed")
            return False

    async def _run_setup(self) -> bool:
        setup = asyncio.ensure_future(self._setup(self._lifecycle, self._config))
        requested = asyncio.ensure_future(self._lifecycle.wait_for_shutdown())
        try:
            await asyncio.wait({setup, requested}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            requested.cancel()
        if not setup.done():
            _log.info("start interrupted by the shutdown")
            setup.cancel()
            setup.add_done_callback(_consume)
            loop = asyncio.get_running_loop()
            started = loop.time()
            await asyncio.wait({setup}, timeout=self._config.service.shutdown_timeout)
            self._drain_spent = loop.time() - started
            return False
        setup.result()
        return True

    def _on_signal(self, signum: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            _log.error("second signal: exiting at once", signal=signum.name)
            _flush_streams()
            os._exit(EXIT_FORCED)
        _log.info("shutdown requested", signal=signum.name)
        self._lifecycle.request_shutdown(f"signal {signum.name}")
