"""SingleFlight: one call per key in flight, result and error shared, cancels isolated (RD-5)."""

from __future__ import annotations

import asyncio

import pytest

from svcinfra.cache import SingleFlight


class Loader:
    """A loader that counts its calls and finishes when released."""

    def __init__(self, result: object = "value", error: Exception | None = None) -> None:
        self.calls = 0
        self.release = asyncio.Event()
        self.result = result
        self.error = error

    async def __call__(self) -> object:
        self.calls += 1
        await self.release.wait()
        if self.error is not None:
            raise self.error
        return self.result


async def test_concurrent_callers_share_one_call() -> None:
    """A thousand callers of one key cause one call, all get its result, 999 marked shared."""
    flight: SingleFlight[object] = SingleFlight()
    loader = Loader()
    callers = [asyncio.create_task(flight.do("k", loader)) for _ in range(1000)]
    await asyncio.sleep(0)
    loader.release.set()

    results = await asyncio.gather(*callers)

    assert loader.calls == 1
    assert {value for value, _ in results} == {"value"}
    assert sum(shared for _, shared in results) == 999
    assert len(flight) == 0


async def test_error_is_shared() -> None:
    """When the call fails, every waiter gets the same exception object."""
    flight: SingleFlight[object] = SingleFlight()
    error = LookupError("db said no")
    loader = Loader(error=error)
    callers = [asyncio.create_task(flight.do("k", loader)) for _ in range(10)]
    await asyncio.sleep(0)
    loader.release.set()

    results = await asyncio.gather(*callers, return_exceptions=True)

    assert loader.calls == 1
    assert all(result is error for result in results)


async def test_cancelling_one_caller_does_not_cancel_the_others() -> None:
    """The caller that started the call is cancelled; the call runs on and the others get it."""
    flight: SingleFlight[object] = SingleFlight()
    loader = Loader()
    first = asyncio.create_task(flight.do("k", loader))
    await asyncio.sleep(0)
    others = [asyncio.create_task(flight.do("k", loader)) for _ in range(5)]
    await asyncio.sleep(0)

    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    loader.release.set()

    assert [value for value, _ in await asyncio.gather(*others)] == ["value"] * 5
    assert loader.calls == 1


async def test_call_finishes_even_if_every_caller_gave_up() -> None:
    """With all callers cancelled the call still completes (it fills the cache for the next one)."""
    flight: SingleFlight[object] = SingleFlight()
    loader = Loader(error=RuntimeError("nobody listens"))
    task, shared = flight.start("k", loader)
    caller = asyncio.create_task(flight.do("k", loader))
    await asyncio.sleep(0)
    caller.cancel()
    loader.release.set()

    with pytest.raises(RuntimeError):
        await task
    assert not shared
    assert len(flight) == 0


async def test_keys_are_independent_and_nothing_is_kept() -> None:
    """Different keys run separately; once done, the next caller starts a new call."""
    flight: SingleFlight[object] = SingleFlight()
    a, b = Loader("a"), Loader("b")
    a.release.set()
    b.release.set()

    assert (await flight.do("a", a))[0] == "a"
    assert (await flight.do("b", b))[0] == "b"
    assert (await flight.do("a", a))[0] == "a"
    assert (a.calls, b.calls) == (2, 1)
