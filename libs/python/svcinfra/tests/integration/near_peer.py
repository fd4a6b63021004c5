"""A second process for the near cache tests: reads one id in a loop, prints what it sees.

    python near_peer.py HOST PORT DOMAIN ID [get|view]

Prints JSON lines on stdout: `{"ready": ...}` once tracking is up, then `{"seen": name-or-null,
"t": time.monotonic()}` each time the value it reads changes (CLOCK_MONOTONIC: the same clock as
the test process's on this machine), `{"reconnected": connection id}` when its tracking
connection was replaced, and `{"near": counters}` when stdin closes. With `view`, each read
tries `Cache.near_view` first (the name, memoised with the near entry), then `Cache.get`.
"""

from __future__ import annotations

import asyncio
import faulthandler
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "assets" / "proto" / "generated"))

import cache_values_pb2 as pb
import structlog

from svcinfra.cache import Cache, KeyNamespace, NearCache, create_cache_client
from svcinfra.config import RedisSettings
from svcinfra.testing import metric_value

POLL = 0.001


def emit(**fields: object) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def name_of(value: pb.UserProfile) -> str:
    return value.name


async def main(host: str, port: int, domain: str, id_: int, mode: str) -> None:
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # stdout: JSON
    client = create_cache_client(RedisSettings(host=host, port=port), name=f"{domain}-peer")
    namespace = KeyNamespace(domain, "profile")
    cache = Cache(client, namespace, pb.UserProfile, ttl=300, near=NearCache())
    assert cache.near is not None
    if not await cache.near.wait_live(10):
        raise SystemExit("the peer's tracking connection did not come up")
    emit(ready=True, connection_id=cache.near.connection_id, run_id=cache.near.run_id)
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    closed = asyncio.ensure_future(stdin.read())
    last: object = object()
    tracking = cache.near.connection_id
    while not closed.done():
        if cache.near.connection_id not in (None, tracking):
            tracking = cache.near.connection_id
            emit(reconnected=tracking, run_id=cache.near.run_id)
        name = cache.near_view(id_, name_of) if mode == "view" else None
        if name is None:
            value = await cache.get(id_)
            name = None if value is None else value.name
        if name != last:
            emit(seen=name, t=time.monotonic())
            last = name
        await asyncio.sleep(POLL)
    events = ("hit", "fill", "invalidated", "flush")
    near = {
        e: metric_value("svcinfra_cache_near_total", namespace=namespace.name, event=e)
        for e in events
    }
    emit(near=near)
    faulthandler.dump_traceback_later(5, exit=True)  # a hang at exit shows where, then ends
    await client.aclose()


if __name__ == "__main__":
    mode = sys.argv[5] if len(sys.argv) > 5 else "get"
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), mode))
