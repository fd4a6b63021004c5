"""`Lifecycle`: what a service opened, what makes it ready, what it runs, and how it stops."""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar

from svcinfra.observability import get_logger

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AbstractAsyncContextManager

T = TypeVar("T")

_log = get_logger("svcinfra.app")


class LifecycleState(StrEnum):
    """Where a service is in its life; readiness answers 503 in every state but `RUNNING`."""

    STARTING = "starting"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """The outcome of one readiness check.

    Attributes:
        name: the check's name.
        ok: whether it passed.
        duration: seconds it took (up to its timeout).
        reason: why it failed: `timeout after 2s`, the exception's class name, or
            `returned False`; never an exception message, which may hold a secret.
    """

    name: str
    ok: bool
    duration: float
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Readiness:
    """The outcome of a readiness probe: `ready`, `not ready`, `starting` or `stopping`."""

    status: str
    checks: tuple[CheckResult, ...] = ()

    @property
    def ready(self) -> bool:
        """Whether traffic may be routed to the service."""
        return self.status == "ready"


@dataclass(frozen=True, slots=True)
class ShutdownReport:
    """What a shutdown did not manage.

    Attributes:
        reason: why the shutdown happened (`signal SIGTERM`, `task consumer failed`, ...).
        failed: tasks and resources whose stop or close raised.
        unfinished: tasks and resources that did not finish within the shutdown timeout.
    """

    reason: str
    failed: tuple[str, ...] = ()
    unfinished: tuple[str, ...] = ()

    @property
    def clean(self) -> bool:
        """Whether everything stopped and closed without error, in time."""
        return not (self.failed or self.unfinished)


@dataclass(frozen=True, slots=True)
class _Closer:
    name: str
    close: Callable[[], Awaitable[object]]
    timeout: float | None


@dataclass(frozen=True, slots=True)
class _Check:
    name: str
    check: Callable[[], Awaitable[object]]
    timeout: float


@dataclass(slots=True)
class _Task:
    name: str
    run: Callable[[], Awaitable[object]]
    stop: Callable[[], object] | None
    drain: Callable[[], object] | None = None
    task: asyncio.Task[object] | None = None


def _consume(task: asyncio.Future[object]) -> None:
    """Mark an abandoned task's outcome as retrieved, so asyncio does not report it at exit."""
    if not task.cancelled():
        task.exception()


def _name_of(resource: object) -> str:
    # An @asynccontextmanager is better known by its function than by its generic class.
    func = getattr(resource, "func", None)
    return getattr(func, "__qualname__", None) or type(resource).__name__


async def _await(call: Callable[[], Awaitable[T]]) -> T:
    return await call()


class Lifecycle:
    """The resources, readiness checks and long-running tasks of one service process.

    The service's composition root (its `setup`) fills it while the service starts:

        async def setup(lc: Lifecycle, config: UsersConfig) -> None:
            pool = await lc.enter(open_pool(config.postgres))         # closed last
            lc.add_readiness_check("postgres", pool.ping, timeout=2.0)
            api = AsgiServer(build_api(pool), port=config.http.api_port)
            lc.add_task("api", api.serve, stop=api.request_stop, drain=api.drain)  # stopped first

    Resources close in the reverse order of opening, also after a start that failed half-way.
    Each close is bounded, and one that raises or times out is logged and reported without
    stopping the others (a LIFO list of closers, like Go's `shutdown.Run`).
    """

    def __init__(self) -> None:
        self._state = LifecycleState.STARTING
        self._closers: list[_Closer] = []
        self._checks: dict[str, _Check] = {}
        self._tasks: dict[str, _Task] = {}
        self._shutdown_requested = asyncio.Event()
        self._shutdown_reason = ""
        self._crashed: list[str] = []
        self._last_readiness: Readiness | None = None

    @property
    def state(self) -> LifecycleState:
        """Where the service is in its life."""
        return self._state

    @property
    def crashed_tasks(self) -> tuple[str, ...]:
        """Names of tasks that failed or ended before the shutdown."""
        return tuple(self._crashed)

    @property
    def last_readiness(self) -> Readiness | None:
        """The outcome of the last readiness probe, if there was one."""
        return self._last_readiness

    async def enter(
        self,
        resource: AbstractAsyncContextManager[T],
        *,
        name: str | None = None,
        close_timeout: float | None = None,
    ) -> T:
        """Open an async context manager and close it at shutdown; return what it gives.

        Args:
            resource: a pool, client or server to open now.
            name: how logs and reports call it; by default its class name (its function's name
                for an `@asynccontextmanager`).
            close_timeout: the longest its close may take; otherwise only the shutdown timeout
                bounds it.

        Raises:
            RuntimeError: the shutdown has begun.
        """
        self._ensure_open()
        name = name or _name_of(resource)  # before entering: contextlib drops `func` on entry
        value = await resource.__aenter__()
        self.push_close(
            name,
            functools.partial(resource.__aexit__, None, None, None),
            close_timeout=close_timeout,
        )
        return value

    def push_close(
        self,
        name: str,
        close: Callable[[], Awaitable[object]],
        *,
        close_timeout: float | None = None,
    ) -> None:
        """Call `close` at shutdown, before every close pushed earlier.

        Args:
            name: how logs and reports call the resource.
            close: closes it.
            close_timeout: the longest `close` may take; otherwise only the shutdown timeout
                bounds it.

        Raises:
            RuntimeError: the shutdown has begun.
        """
        self._ensure_open()
        self._closers.append(_Closer(name, close, close_timeout))
        _log.debug("resource opened", resource=name)

    def add_readiness_check(
        self,
        name: str,
        check: Callable[[], Awaitable[object]],
        *,
        timeout: float = 2.0,
    ) -> None:
        """Make readiness depend on `check`: it fails when it raises, returns False or times out.

        Raises:
            ValueError: a check with this name exists.
        """
        if name in self._checks:
            raise ValueError(f"readiness check {name!r} is already registered")
        if timeout <= 0:
            raise ValueError("a readiness check timeout must be positive")
        self._checks[name] = _Check(name, check, timeout)

    def add_task(
        self,
        name: str,
        run: Callable[[], Awaitable[object]],
        *,
        stop: Callable[[], object] | None = None,
        drain: Callable[[], object] | None = None,
    ) -> None:
        """Run `run()` (a server, a consumer) from the start until the shutdown.

        A task that fails, or ends before the shutdown, starts the shutdown and makes the
        process exit non-zero. At shutdown a task is asked to finish with `stop()` (which must
        not block, e.g. `server.should_exit = True`) and waited for; without `stop` it is
        cancelled. Tasks stop before any resource closes.

        A task that serves traffic a load balancer routes (an HTTP API) passes `drain`: at
        shutdown it is called first (it must not block, e.g. `AsgiServer.drain`, which makes
        answers say `Connection: close`), and the task keeps running through the shutdown's
        drain delay, while readiness already answers 503, before `stop` (see `shutdown`).

        Raises:
            ValueError: a task with this name exists.
            RuntimeError: the shutdown has begun.
        """
        self._ensure_open()
        if name in self._tasks:
            raise ValueError(f"task {name!r} is already registered")
        spec = _Task(name, run, stop, drain)
        self._tasks[name] = spec
        if self._state is LifecycleState.RUNNING:
            self._launch(spec)

    def start(self) -> None:
        """Mark the start complete: start the tasks and let readiness checks decide.

        Raises:
            RuntimeError: called twice, or after the shutdown began.
        """
        if self._state is not LifecycleState.STARTING:
            raise RuntimeError(f"cannot start a lifecycle that is {self._state}")
        self._state = LifecycleState.RUNNING
        for spec in self._tasks.values():
            self._launch(spec)

    def request_shutdown(self, reason: str) -> None:
        """Ask for a shutdown (a signal, a crashed task); the first reason given is kept."""
        if not self._shutdown_requested.is_set():
            self._shutdown_reason = reason
            self._shutdown_requested.set()

    async def wait_for_shutdown(self) -> str:
        """Wait until a shutdown is requested; return why."""
        await self._shutdown_requested.wait()
        return self._shutdown_reason

    async def check_readiness(self) -> Readiness:
        """Run every readiness check concurrently, each bounded by its timeout."""
        if self._state is LifecycleState.STARTING:
            readiness = Readiness("starting")
        elif self._state is not LifecycleState.RUNNING:
            readiness = Readiness("stopping")
        else:
            checks = await asyncio.gather(*(self._run_check(c) for c in self._checks.values()))
            if not self._is_running():  # the shutdown may have begun while checks ran
                readiness = Readiness("stopping", tuple(checks))
            else:
                status = "ready" if all(c.ok for c in checks) else "not ready"
                readiness = Readiness(status, tuple(checks))
        self._last_readiness = readiness
        return readiness

    async def shutdown(
        self,
        *,
        timeout: float,  # noqa: ASYNC109  (one budget shared by many stops and closes)
        reason: str = "shutdown",
        drain_delay: float = 0.0,
    ) -> ShutdownReport:
        """Drain, stop the tasks, then close the resources in reverse order within `timeout`.

        Readiness answers `stopping` from the first moment. When a running task has a `drain`
        hook and `drain_delay` is positive, the hooks are called and every task keeps running
        for `drain_delay` seconds (less if the draining tasks all end): Kubernetes removes a
        terminating pod from its Service's endpoints asynchronously, so new connections keep
        arriving for a few seconds after SIGTERM, and they are served instead of refused.
        Then `timeout` starts: what raises is logged and reported as failed; what is still
        running at the deadline is cancelled, abandoned and reported as unfinished, and what
        had no time left is not started. `terminationGracePeriodSeconds` must exceed
        `drain_delay + timeout`.

        Raises:
            RuntimeError: called twice.
        """
        if self._state in (LifecycleState.STOPPING, LifecycleState.STOPPED):
            raise RuntimeError("the lifecycle is already shutting down")
        self._state = LifecycleState.STOPPING
        self.request_shutdown(reason)
        loop = asyncio.get_running_loop()
        started = loop.time()
        await self._drain(drain_delay)
        deadline = loop.time() + timeout
        _log.info("shutting down", reason=self._shutdown_reason, timeout=timeout)
        failed: list[str] = []
        unfinished: list[str] = []
        await self._stop_tasks(deadline, failed, unfinished)
        while self._closers:
            closer = self._closers.pop()
            remaining = deadline - loop.time()
            if remaining <= 0:
                unfinished.append(closer.name)
                _log.error("not closed: shutdown timeout exceeded", resource=closer.name)
                continue
            budget = remaining if closer.timeout is None else min(remaining, closer.timeout)
            await self._close(closer, budget, failed, unfinished)
        self._state = LifecycleState.STOPPED
        report = ShutdownReport(self._shutdown_reason, tuple(failed), tuple(unfinished))
        duration = round(loop.time() - started, 3)
        if report.clean:
            _log.info("shutdown complete", duration=duration)
        else:
            _log.error(
                "shutdown incomplete",
                duration=duration,
                failed=list(report.failed),
                unfinished=list(report.unfinished),
            )
        return report

    def _is_running(self) -> bool:
        return self._state is LifecycleState.RUNNING

    def _ensure_open(self) -> None:
        if self._state in (LifecycleState.STOPPING, LifecycleState.STOPPED):
            raise RuntimeError("the lifecycle is shutting down; nothing can be added to it")

    def _launch(self, spec: _Task) -> None:
        task = asyncio.create_task(_await(spec.run), name=f"svcinfra:{spec.name}")
        task.add_done_callback(functools.partial(self._on_task_done, spec.name))
        spec.task = task
        _log.debug("task started", task=spec.name)

    def _on_task_done(self, name: str, task: asyncio.Task[object]) -> None:
        error = None if task.cancelled() else task.exception()
        if self._state is not LifecycleState.RUNNING:
            return  # stopping: `_stop_tasks` reports it
        if error is not None:
            _log.error("task failed", task=name, exc_info=error)
        else:
            _log.error("task ended before the shutdown", task=name, cancelled=task.cancelled())
        self._crashed.append(name)
        self.request_shutdown(f"task {name} failed" if error else f"task {name} ended")

    async def _drain(self, delay: float) -> None:
        """Call the drain hooks, then keep every task running for `delay` seconds."""
        hooks = [
            (spec, spec.task, spec.drain)
            for spec in self._tasks.values()
            if spec.drain is not None and spec.task is not None and not spec.task.done()
        ]
        if not hooks or delay <= 0:
            return
        for spec, _, drain in hooks:
            try:
                drain()
            except Exception:  # noqa: BLE001  (reported; serving through the delay goes on)
                _log.error("task drain failed", task=spec.name, exc_info=True)
        _log.info(
            "draining: serving until traffic is routed away",
            reason=self._shutdown_reason,
            delay=delay,
            tasks=[spec.name for spec, _, _ in hooks],
        )
        await asyncio.wait({task for _, task, _ in hooks}, timeout=delay)

    async def _stop_tasks(self, deadline: float, failed: list[str], unfinished: list[str]) -> None:
        running = {
            spec.task: spec
            for spec in self._tasks.values()
            if spec.task is not None and not spec.task.done()
        }
        for task, spec in running.items():
            if spec.stop is None:
                task.cancel()
                continue
            try:
                spec.stop()
            except Exception:  # noqa: BLE001  (reported; the task is cancelled instead)
                _log.error("task stop failed; cancelling it", task=spec.name, exc_info=True)
                task.cancel()
        if not running:
            return
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        done, pending = await asyncio.wait(running, timeout=remaining)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                failed.append(running[task].name)
                _log.error("task failed while stopping", task=running[task].name, exc_info=error)
        for task in pending:
            task.cancel()
            task.add_done_callback(_consume)
            unfinished.append(running[task].name)
            _log.error("task did not stop in time", task=running[task].name)

    async def _close(
        self,
        closer: _Closer,
        budget: float,
        failed: list[str],
        unfinished: list[str],
    ) -> None:
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.ensure_future(_await(closer.close))
        done, _ = await asyncio.wait({task}, timeout=budget)
        if not done:
            # Abandoned, not awaited: a close that ignores cancellation must not hang the exit.
            task.cancel()
            task.add_done_callback(_consume)
            unfinished.append(closer.name)
            _log.error("close did not finish in time", resource=closer.name, timeout=budget)
            return
        error = None if task.cancelled() else task.exception()
        if task.cancelled() or error is not None:
            failed.append(closer.name)
            _log.error("close failed", resource=closer.name, exc_info=error)
            return
        _log.debug("resource closed", resource=closer.name, duration=loop.time() - started)

    async def _run_check(self, check: _Check) -> CheckResult:
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = asyncio.ensure_future(_await(check.check))
        try:
            done, _ = await asyncio.wait({task}, timeout=check.timeout)
        finally:
            if not task.done():
                task.cancel()
                task.add_done_callback(_consume)
        duration = loop.time() - started
        if not done:
            reason = f"timeout after {check.timeout:g}s"
        elif task.cancelled():
            reason = "cancelled"
        elif (error := task.exception()) is not None:
            reason = type(error).__name__
            _log.warning("readiness check failed", check=check.name, reason=reason, error=error)
        elif task.result() is False:
            reason = "returned False"
        else:
            return CheckResult(check.name, ok=True, duration=duration)
        return CheckResult(check.name, ok=False, duration=duration, reason=reason)
