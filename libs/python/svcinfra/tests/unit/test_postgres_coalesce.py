"""`Coalescer`: concurrent calls answered by one batched run, groups that grow with the load."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from svcinfra.postgres import Coalescer

if TYPE_CHECKING:
    from collections.abc import Sequence


class _Runs:
    """A batched statement stand-in: records each group, holds it until released."""

    def __init__(self) -> None:
        self.groups: list[list[int]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.active = 0
        self.most_active = 0

    async def __call__(self, items: Sequence[int]) -> list[int | BaseException]:
        self.groups.append(list(items))
        self.active += 1
        self.most_active = max(self.most_active, self.active)
        try:
            await self.gate.wait()
        finally:
            self.active -= 1
        return [ValueError(f"odd {i}") if i < 0 else i * 10 for i in items]


async def test_calls_made_in_one_pass_go_as_one_group_in_call_order() -> None:
    runs = _Runs()
    coalescer = Coalescer(runs, max_size=64)
    assert await asyncio.gather(*(coalescer(i) for i in range(5))) == [0, 10, 20, 30, 40]
    assert runs.groups == [[0, 1, 2, 3, 4]]


async def test_a_lone_call_goes_at_once() -> None:
    runs = _Runs()
    coalescer = Coalescer(runs, max_size=64)
    assert await coalescer(7) == 70
    assert await coalescer(8) == 80
    assert runs.groups == [[7], [8]]


async def test_calls_made_while_every_slot_is_busy_wait_and_go_together() -> None:
    """One slot: the first group holds it; the 6 calls made meanwhile form the next group."""
    runs = _Runs()
    runs.gate.clear()
    coalescer = Coalescer(runs, max_size=64, concurrency=1)
    first = asyncio.ensure_future(coalescer(1))
    await asyncio.sleep(0.01)
    later = [asyncio.ensure_future(coalescer(i)) for i in range(2, 8)]
    await asyncio.sleep(0.01)
    assert runs.groups == [[1]]  # the others wait for the slot
    runs.gate.set()
    assert await first == 10
    assert await asyncio.gather(*later) == [20, 30, 40, 50, 60, 70]
    assert runs.groups == [[1], [2, 3, 4, 5, 6, 7]]


async def test_concurrency_bounds_the_groups_in_flight_and_max_size_their_length() -> None:
    runs = _Runs()
    runs.gate.clear()
    coalescer = Coalescer(runs, max_size=3, concurrency=2)
    calls = [asyncio.ensure_future(coalescer(i)) for i in range(10)]
    await asyncio.sleep(0.01)
    assert runs.groups == [[0, 1, 2], [3, 4, 5]]
    runs.gate.set()
    assert await asyncio.gather(*calls) == [i * 10 for i in range(10)]
    assert runs.groups == [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]]
    assert runs.most_active == 2


async def test_an_exception_result_is_raised_to_its_caller_alone() -> None:
    coalescer = Coalescer(_Runs(), max_size=64)
    results = await asyncio.gather(
        coalescer(1), coalescer(-2), coalescer(3), return_exceptions=True
    )
    assert results[::2] == [10, 30]
    assert isinstance(results[1], ValueError)
    assert str(results[1]) == "odd -2"


async def test_a_failed_run_is_raised_to_every_caller_of_its_group_only() -> None:
    failing = {"on": True}

    async def run(items: Sequence[int]) -> list[int]:
        if failing["on"]:
            raise ConnectionError("the database went away")
        return list(items)

    coalescer = Coalescer(run, max_size=64)
    results = await asyncio.gather(coalescer(1), coalescer(2), return_exceptions=True)
    assert [type(r) for r in results] == [ConnectionError, ConnectionError]
    failing["on"] = False
    assert await coalescer(3) == 3  # the next group is unaffected


async def test_a_run_returning_the_wrong_number_of_results_fails_its_group() -> None:
    async def run(items: Sequence[int]) -> list[int]:
        return list(items)[:-1]

    coalescer = Coalescer(run, max_size=64)
    with pytest.raises(RuntimeError, match="1 results for a group of 2 items"):
        await asyncio.gather(coalescer(1), coalescer(2))


async def test_a_cancelled_caller_does_not_cancel_its_group() -> None:
    runs = _Runs()
    runs.gate.clear()
    coalescer = Coalescer(runs, max_size=64)
    impatient = asyncio.ensure_future(coalescer(1))
    patient = asyncio.ensure_future(coalescer(2))
    await asyncio.sleep(0.01)
    impatient.cancel()
    await asyncio.sleep(0.01)
    runs.gate.set()
    assert await patient == 20
    assert impatient.cancelled()
    assert runs.groups == [[1, 2]]


async def test_close_waits_for_the_groups_in_flight_and_those_waiting() -> None:
    runs = _Runs()
    runs.gate.clear()
    coalescer = Coalescer(runs, max_size=2, concurrency=1)
    calls = [asyncio.ensure_future(coalescer(i)) for i in range(5)]
    await asyncio.sleep(0.01)
    closing = asyncio.ensure_future(coalescer.close())
    await asyncio.sleep(0.01)
    assert not closing.done()
    runs.gate.set()
    await closing
    assert all(call.done() for call in calls)
    assert runs.groups == [[0, 1], [2, 3], [4]]


@pytest.mark.parametrize("options", [{"max_size": 0}, {"max_size": 1, "concurrency": 0}])
def test_bounds_out_of_range_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ValueError, match="must be at least 1"):
        Coalescer(_Runs(), **options)
