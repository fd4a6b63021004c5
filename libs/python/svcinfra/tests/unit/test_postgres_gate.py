"""The fair gate in front of the pool: first come, first served, and no permit lost (PG-5)."""

from __future__ import annotations

import asyncio

import pytest

from svcinfra.postgres._gate import FairGate


async def test_waiters_get_permits_in_arrival_order() -> None:
    """Released permits go to the oldest waiter, and a newcomer cannot overtake the line."""
    gate = FairGate(1, timeout=5)
    assert gate.try_enter()
    order: list[int] = []

    async def wait(number: int) -> None:
        await gate.enter()
        order.append(number)
        gate.leave()

    tasks = [asyncio.create_task(wait(n)) for n in range(4)]
    await asyncio.sleep(0)
    assert gate.waiting == 4
    assert not gate.try_enter()
    gate.leave()
    await asyncio.gather(*tasks)
    assert order == [0, 1, 2, 3]
    assert (gate.free, gate.waiting) == (1, 0)


async def test_timeout_leaves_the_line() -> None:
    """A wait that times out raises TimeoutError and no longer counts as waiting."""
    gate = FairGate(1, timeout=0.01)
    assert gate.try_enter()
    with pytest.raises(TimeoutError):
        await gate.enter()
    assert gate.waiting == 0
    gate.leave()
    assert gate.free == 1


async def test_cancelled_waiter_passes_a_handed_permit_on() -> None:
    """A waiter cancelled just after being handed a permit gives it to the next one."""
    gate = FairGate(1, timeout=5)
    assert gate.try_enter()
    first = asyncio.create_task(gate.enter())
    second = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    gate.leave()  # hands the permit to `first`, which has not run yet
    first.cancel()
    await second
    assert first.cancelled()
    assert (gate.free, gate.waiting) == (0, 0)
    gate.leave()
    assert gate.free == 1


async def test_cancelled_waiter_leaves_the_line() -> None:
    """A waiter cancelled before its turn is forgotten; the permit goes to the next."""
    gate = FairGate(1, timeout=5)
    assert gate.try_enter()
    first = asyncio.create_task(gate.enter())
    second = asyncio.create_task(gate.enter())
    await asyncio.sleep(0)
    first.cancel()
    await asyncio.sleep(0)
    assert gate.waiting == 1
    gate.leave()
    await second
    assert (gate.free, gate.waiting) == (0, 0)
