"""NearLayer's bookkeeping without a server: what may fill, for how long, and what flushes.

The tracking connection itself is tested against Redis in tests/integration/test_cache_near.py;
here the layer is made live by hand (`_up`, what a successful tracking handshake calls).
"""

from __future__ import annotations

import time

import pytest

from svcinfra.cache import CacheError, KeyNamespace, NearCache, create_cache_client
from svcinfra.cache._near import NearLayer
from svcinfra.config import RedisSettings

NS = KeyNamespace("unit", "near")
KEY = NS.key(1)


def layer(**options: float) -> NearLayer:
    client = create_cache_client(RedisSettings(host="127.0.0.1"), name="unit-near")  # no I/O
    near = NearLayer(client, NS, NearCache(**options))  # type: ignore[arg-type]
    near._up()
    return near


@pytest.mark.parametrize(
    "options",
    [
        {"max_entries": 0},
        {"max_entries": 1.5},
        {"max_age": 0},
        {"heartbeat": float("nan")},
        {"heartbeat": 2.0, "max_silence": 1.0},
    ],
)
def test_bad_options_are_refused(options: dict[str, float]) -> None:
    with pytest.raises(CacheError):
        NearCache(**options)  # type: ignore[arg-type]


def test_a_read_fills_and_a_hit_serves_it() -> None:
    near = layer()
    ticket = near.begin(KEY)
    assert ticket is not None
    near.end(KEY, ticket, b"v", 60_000)
    assert near.get(KEY) == b"v"


def test_an_invalidation_during_the_read_keeps_it_from_filling() -> None:
    near = layer()
    ticket = near.begin(KEY)
    assert ticket is not None
    near.invalidate(KEY)  # the push of a write that landed after Redis answered the read
    near.end(KEY, ticket, b"old", 60_000)
    assert near.get(KEY) is None
    again = near.begin(KEY)  # the next read is not affected
    assert again is not None
    near.end(KEY, again, b"new", 60_000)
    assert near.get(KEY) == b"new"


def test_overlapping_reads_stay_poisoned_until_the_last_ends() -> None:
    near = layer()
    first, second = near.begin(KEY), near.begin(KEY)
    assert first is not None
    assert second is not None
    near.invalidate(KEY)
    near.end(KEY, first, b"old", 60_000)
    near.end(KEY, second, b"old", 60_000)
    assert near.get(KEY) is None


def test_a_read_across_a_flush_or_reconnect_does_not_fill() -> None:
    near = layer()
    ticket = near.begin(KEY)
    assert ticket is not None
    near.flush()
    near.end(KEY, ticket, b"v", 60_000)
    assert near.get(KEY) is None
    ticket = near.begin(KEY)
    assert ticket is not None
    near._down(None)
    near._up()
    near.end(KEY, ticket, b"v", 60_000)
    assert near.get(KEY) is None


def test_nothing_fills_or_serves_while_not_live() -> None:
    near = layer()
    ticket = near.begin(KEY)
    assert ticket is not None
    near.end(KEY, ticket, b"v", 60_000)
    near._fresh_until = time.monotonic() - 1
    near._task = object()  # type: ignore[assignment]
    assert near.get(KEY) is None
    assert near.begin(KEY) is None


def test_the_deadline_is_the_read_start_plus_the_redis_ttl_capped_by_max_age() -> None:
    near = layer(max_age=1.0)
    ticket = near.begin(KEY)
    assert ticket is not None
    near.end(KEY, ticket, b"v", 500)
    assert near.deadline(KEY) == pytest.approx(ticket.started + (500 - 2 - 0.5) / 1000)
    ticket = near.begin(NS.key(2))
    assert ticket is not None
    near.end(NS.key(2), ticket, b"v", 60_000)
    assert near.deadline(NS.key(2)) == pytest.approx(ticket.started + 1.0)


@pytest.mark.parametrize("pttl_ms", [-2, -1, 0, 2])
def test_keys_without_a_positive_ttl_are_not_kept(pttl_ms: int) -> None:
    near = layer()
    ticket = near.begin(KEY)
    assert ticket is not None
    near.end(KEY, ticket, b"v", pttl_ms)
    assert KEY not in near


async def test_a_flush_push_drops_everything_and_key_pushes_drop_their_keys() -> None:
    near = layer()
    for id_ in range(3):
        ticket = near.begin(NS.key(id_))
        assert ticket is not None
        near.end(NS.key(id_), ticket, b"v", 60_000)
    await near._on_push([b"invalidate", [NS.key(0).encode()]])
    assert [NS.key(i) in near for i in range(3)] == [False, True, True]
    await near._on_push([b"invalidate", None])
    assert len(near) == 0
