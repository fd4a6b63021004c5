"""The lifecycle closes what was opened in reverse order, bounded, and supervises tasks."""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import TYPE_CHECKING, Any

import pytest

from svcinfra.app import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    EXIT_FORCED,
    EXIT_OK,
    Lifecycle,
    LifecycleState,
    Readiness,
)
from svcinfra.testing import capture_logs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine


class Recorder:
    """Remembers the order in which fake resources open and close."""

    def __init__(self) -> None:
        self.events: list[str] = []

    def resource(
        self, name: str, *, delay: float = 0.0
    ) -> contextlib.AbstractAsyncContextManager[str]:
        @contextlib.asynccontextmanager
        async def open_() -> AsyncIterator[str]:
            self.events.append(f"open {name}")
            yield name
            await asyncio.sleep(delay)
            self.events.append(f"close {name}")

        return open_()

    def closer(self, name: str) -> Callable[[], Coroutine[Any, Any, None]]:
        async def close() -> None:
            self.events.append(f"close {name}")

        return close


async def test_resources_close_in_reverse_order() -> None:
    """Context managers and pushed closes run last-opened first."""
    rec, lc = Recorder(), Lifecycle()
    assert await lc.enter(rec.resource("pool")) == "pool"
    lc.push_close("client", rec.closer("client"))
    await lc.enter(rec.resource("server"))

    report = await lc.shutdown(timeout=5)

    assert rec.events == ["open pool", "open server", "close server", "close client", "close pool"]
    assert report.clean
    assert lc.state is LifecycleState.STOPPED


async def test_a_failing_close_is_reported_and_the_rest_still_close() -> None:
    """A close that raises is logged and reported as failed; the closes before it still run."""
    rec, lc = Recorder(), Lifecycle()
    lc.push_close("first", rec.closer("first"))

    async def broken() -> None:
        raise ConnectionError("lost")

    lc.push_close("broken", broken)
    lc.push_close("last", rec.closer("last"))

    with capture_logs() as logs:
        report = await lc.shutdown(timeout=5)

    assert rec.events == ["close last", "close first"]
    assert report.failed == ("broken",)
    assert not report.clean
    (failure,) = logs.find("close failed")
    assert failure["resource"] == "broken"
    assert "ConnectionError: lost" in failure["exception"]


async def test_a_close_past_its_own_timeout_is_abandoned() -> None:
    """A close slower than its close_timeout is cancelled and reported; later closes still run."""
    rec, lc = Recorder(), Lifecycle()
    lc.push_close("first", rec.closer("first"))
    await lc.enter(rec.resource("slow", delay=30), name="slow", close_timeout=0.05)

    report = await asyncio.wait_for(lc.shutdown(timeout=10), timeout=5)

    assert rec.events == ["open slow", "close first"]
    assert report.unfinished == ("slow",)


async def test_a_close_that_ignores_cancellation_does_not_hang_the_shutdown() -> None:
    """Even a close that swallows cancellation cannot hold the shutdown past its timeout."""
    lc = Lifecycle()
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            with contextlib.suppress(asyncio.CancelledError):
                await release.wait()

    lc.push_close("stubborn", stubborn)
    try:
        report = await asyncio.wait_for(lc.shutdown(timeout=0.1), timeout=5)
    finally:
        release.set()
    assert report.unfinished == ("stubborn",)


async def test_closes_left_at_the_deadline_are_reported_not_started() -> None:
    """Past the shutdown timeout, the remaining closes are not started and are reported."""
    rec, lc = Recorder(), Lifecycle()
    lc.push_close("first", rec.closer("first"))
    await lc.enter(rec.resource("slow", delay=30), name="slow")

    with capture_logs() as logs:
        report = await asyncio.wait_for(lc.shutdown(timeout=0.1), timeout=5)

    assert rec.events == ["open slow"]
    assert report.unfinished == ("slow", "first")
    (incomplete,) = logs.find("shutdown incomplete")
    assert incomplete["unfinished"] == ["slow", "first"]


async def test_nothing_can_be_added_once_the_shutdown_began() -> None:
    """Opening or pushing a close after the shutdown began is an error, not a leak."""
    lc = Lifecycle()
    await lc.shutdown(timeout=1)

    with pytest.raises(RuntimeError, match="shutting down"):
        lc.push_close("late", Recorder().closer("late"))
    with pytest.raises(RuntimeError, match="shutting down"):
        await lc.enter(Recorder().resource("late"))
    with pytest.raises(RuntimeError, match="already shutting down"):
        await lc.shutdown(timeout=1)


async def test_a_failing_task_requests_the_shutdown() -> None:
    """A task that raises is logged, recorded as crashed and starts the shutdown."""
    lc = Lifecycle()

    async def consumer() -> None:
        raise RuntimeError("broker gone")

    lc.add_task("consumer", consumer)
    with capture_logs() as logs:
        lc.start()
        reason = await asyncio.wait_for(lc.wait_for_shutdown(), timeout=5)
        await lc.shutdown(timeout=1)

    assert reason == "task consumer failed"
    assert lc.crashed_tasks == ("consumer",)
    assert "RuntimeError: broker gone" in logs.find("task failed")[0]["exception"]


async def test_a_task_that_ends_early_requests_the_shutdown() -> None:
    """A long-running task that returns before the shutdown counts as crashed."""
    lc = Lifecycle()

    async def server() -> None:
        return

    lc.add_task("server", server)
    lc.start()

    assert await asyncio.wait_for(lc.wait_for_shutdown(), timeout=5) == "task server ended"
    assert lc.crashed_tasks == ("server",)
    await lc.shutdown(timeout=1)


async def test_tasks_stop_before_resources_close() -> None:
    """At shutdown, tasks are asked to stop (or cancelled) before any resource closes."""
    rec, lc = Recorder(), Lifecycle()
    await lc.enter(rec.resource("pool"))
    stopping = asyncio.Event()

    async def server() -> None:
        await stopping.wait()
        rec.events.append("server drained")

    async def consumer() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            rec.events.append("consumer cancelled")
            raise

    lc.add_task("server", server, stop=stopping.set)
    lc.add_task("consumer", consumer)
    lc.start()
    await asyncio.sleep(0)

    report = await lc.shutdown(timeout=5)

    assert report.clean
    assert lc.crashed_tasks == ()
    assert rec.events[-1] == "close pool"
    assert set(rec.events[1:3]) == {"server drained", "consumer cancelled"}


async def test_a_task_that_does_not_stop_in_time_is_reported() -> None:
    """A task still running at the deadline is cancelled and reported as unfinished."""
    lc = Lifecycle()

    async def deaf() -> None:
        await asyncio.Event().wait()

    lc.add_task("deaf", deaf, stop=lambda: None)
    lc.start()

    report = await asyncio.wait_for(lc.shutdown(timeout=0.1), timeout=5)

    assert report.unfinished == ("deaf",)


async def test_an_asynccontextmanager_is_named_after_its_function() -> None:
    """Without a name, a resource from an @asynccontextmanager is called by its function."""

    @contextlib.asynccontextmanager
    async def open_pool() -> AsyncIterator[None]:
        yield

    lc = Lifecycle()
    with capture_logs() as logs:
        await lc.enter(open_pool())

    assert logs.find("resource opened")[0]["resource"].endswith("open_pool")
    await lc.shutdown(timeout=1)


async def test_duplicate_names_are_refused() -> None:
    """Two checks or two tasks with one name are a programming error."""
    lc = Lifecycle()

    async def noop() -> None:
        return

    lc.add_readiness_check("db", noop)
    lc.add_task("api", noop)
    with pytest.raises(ValueError, match="already registered"):
        lc.add_readiness_check("db", noop)
    with pytest.raises(ValueError, match="already registered"):
        lc.add_task("api", noop)


async def test_readiness_follows_the_state() -> None:
    """Readiness is `starting` before start, `ready` while running, `stopping` after."""
    lc = Lifecycle()

    assert await lc.check_readiness() == Readiness("starting")
    lc.start()
    assert (await lc.check_readiness()).ready
    await lc.shutdown(timeout=1)
    assert await lc.check_readiness() == Readiness("stopping")


async def test_failing_checks_are_named_with_a_reason_and_no_message() -> None:
    """A failing check reports its exception class (never its message), False or a timeout."""
    lc = Lifecycle()

    async def ok() -> None:
        return

    async def refused() -> None:
        raise ConnectionRefusedError("postgres://u:secret@db refused")

    async def not_ready() -> bool:
        return False

    async def hangs() -> None:
        await asyncio.Event().wait()

    lc.add_readiness_check("ok", ok)
    lc.add_readiness_check("db", refused)
    lc.add_readiness_check("cache", not_ready)
    lc.add_readiness_check("broker", hangs, timeout=0.05)
    lc.start()

    readiness = await asyncio.wait_for(lc.check_readiness(), timeout=5)

    assert readiness.status == "not ready"
    reasons = {check.name: check.reason for check in readiness.checks}
    assert reasons == {
        "ok": None,
        "db": "ConnectionRefusedError",
        "cache": "returned False",
        "broker": "timeout after 0.05s",
    }
    assert lc.last_readiness == readiness
    await lc.shutdown(timeout=1)


def test_exit_statuses_follow_sysexits() -> None:
    """An invalid configuration exits with EX_CONFIG (78), a forced exit with 2."""
    assert (EXIT_OK, EXIT_FAILURE, EXIT_FORCED, EXIT_CONFIG) == (0, 1, 2, os.EX_CONFIG)
