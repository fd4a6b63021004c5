"""ReadBatcher: the reads of one loop tick become one MGET; waiters are isolated from each other."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import pytest

from svcinfra.cache._batch import FAILED, Failed, ReadBatcher

if TYPE_CHECKING:
    from collections.abc import Sequence


class FakeRedis:
    """An MGET that records its calls and answers from a dict."""

    def __init__(self, data: dict[str, bytes], *, fail: bool = False) -> None:
        self.data = data
        self.calls: list[list[str]] = []
        self.fail = fail
        self.gate = asyncio.Event()
        self.gate.set()

    async def mget(self, keys: Sequence[str]) -> list[bytes | None] | Failed:
        self.calls.append(list(keys))
        await self.gate.wait()
        if self.fail:
            return FAILED
        return [self.data.get(key) for key in keys]


async def test_one_tick_of_reads_is_one_mget() -> None:
    """Two hundred concurrent reads of 100 keys travel as one MGET of 100 distinct keys."""
    redis = FakeRedis({f"d:e:{i}": str(i).encode() for i in range(50)})
    batcher = ReadBatcher(redis.mget, max_batch=512)

    results = await asyncio.gather(*(batcher.get(f"d:e:{i % 100}") for i in range(200)))

    assert len(redis.calls) == 1
    assert sorted(redis.calls[0]) == sorted(f"d:e:{i}" for i in range(100))
    assert results[7] == b"7"
    assert results[107] == b"7"
    assert results[77] is None


async def test_large_ticks_are_split() -> None:
    """A tick with more distinct keys than max_batch is sent as several MGETs."""
    redis = FakeRedis({})
    batcher = ReadBatcher(redis.mget, max_batch=10)

    await asyncio.gather(*(batcher.get(f"d:e:{i}") for i in range(25)))

    assert [len(call) for call in redis.calls] == [10, 10, 5]


async def test_failure_reaches_every_waiter() -> None:
    """A failed MGET resolves every waiter with FAILED instead of raising."""
    batcher = ReadBatcher(FakeRedis({}, fail=True).mget, max_batch=10)

    assert await asyncio.gather(batcher.get("d:e:1"), batcher.get("d:e:2")) == [FAILED, FAILED]


async def test_cancelled_waiter_does_not_cancel_the_read() -> None:
    """One waiter cancelled mid-read; the MGET completes and the other waiter gets the value."""
    redis = FakeRedis({"d:e:1": b"v"})
    redis.gate.clear()
    batcher = ReadBatcher(redis.mget, max_batch=10)
    first, second = batcher.get("d:e:1"), batcher.get("d:e:1")
    await asyncio.sleep(0)

    first.cancel()
    redis.gate.set()

    assert await second == b"v"
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_aclose_releases_waiters() -> None:
    """Closing with a read in flight resolves its waiters as FAILED instead of leaving them."""
    redis = FakeRedis({})
    redis.gate.clear()
    batcher = ReadBatcher(redis.mget, max_batch=10)
    waiter = batcher.get("d:e:1")
    await asyncio.sleep(0)
    await asyncio.sleep(0)

    await batcher.aclose()

    assert await waiter is FAILED
