"""Benchmark: `svcinfra.httpclient.ApiClient` vs bare httpx and bare aiohttp, in one run.

Both clients call the same fast local endpoint (a minimal keep-alive HTTP/1.1 server in a child
process, so that its CPU is not counted in the client's event loop), with the same pool limits,
timeouts and auth header. Ours adds what the issue asks for on every call: route templating,
the rate limiter and circuit breaker checks, the tenacity retry loop, the deadline, a span, a
duration sample and one JSON log line (rendered to /dev/null; at WARNING the success line is
filtered, which shows what the line itself costs). Rounds alternate bare / ours so that machine
noise hits both; the table shows medians, and the client's own CPU time per request, which the
load of other processes on a shared machine does not distort.

    .venv/bin/python bench/httpclient_bench.py          # full run
    .venv/bin/python bench/httpclient_bench.py --quick  # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import aiohttp
import httpx
import structlog
from pydantic import SecretStr

from svcinfra.httpclient import ApiClient, HttpClientSettings

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

# (concurrent callers, log level): INFO writes the one line per call the issue asks for.
SCENARIOS = ((1, "INFO"), (16, "INFO"), (1, "WARNING"))
_SINK = open(os.devnull, "w")  # noqa: PTH123, SIM115  (one sink for the whole run)

_RESPONSE = (
    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-request-id: req-1\r\n"
    b'content-length: 27\r\n\r\n{"id":"item-1","price":100}'
)


class _Endpoint(asyncio.Protocol):
    """Answers every request on a connection with the same small JSON document."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            self.buffer = self.buffer[end + 4 :]
            self.transport.write(_RESPONSE)  # type: ignore[attr-defined]


async def _serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Endpoint, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


class ItemsSettings(HttpClientSettings):
    """Settings of the benchmarked API."""

    env_section = "ITEMS_API_"


class ItemsApi(ApiClient):
    """The adapter under test."""

    name = "items-api"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"benchmark endpoint did not start on port {port}")


async def _measure(
    call: Callable[[int], Awaitable[object]],
    requests: int,
    workers: int,
) -> tuple[float, float]:
    """Return (requests per second, client CPU microseconds per request)."""
    per_worker = requests // workers

    async def worker(offset: int) -> None:
        for i in range(per_worker):
            await call(offset + i)

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker(w * per_worker) for w in range(workers)))
    done = per_worker * workers
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return done / elapsed, cpu / done * 1e6


PATHS = ("bare httpx", "bare aiohttp", "ours", "ours, httpx transport")
Row = tuple[str, dict[str, float], dict[str, float]]


async def _run(port: int, *, requests: int, rounds: int) -> list[Row]:
    base_url = f"http://127.0.0.1:{port}"
    settings = ItemsSettings(
        base_url=base_url, api_key=SecretStr("bench-key"), connect_timeout=2.0, read_timeout=5.0,
        write_timeout=5.0, pool_timeout=5.0, deadline=10.0, max_connections=20,
        max_keepalive_connections=20,
    )  # fmt: skip
    limits = httpx.Limits(max_connections=20, max_keepalive_connections=20)
    bare = httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(connect=2.0, read=5.0, write=5.0, pool=5.0),
        limits=limits,
        headers={"Authorization": "Bearer bench-key"},
    )
    session = aiohttp.ClientSession(
        base_url,
        connector=aiohttp.TCPConnector(limit=20),
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=2.0, sock_read=5.0),
        headers={"Authorization": "Bearer bench-key"},
    )
    ours = ItemsApi(settings)  # aiohttp's pool under httpx (`PooledTransport`), the default
    ours_httpx = ItemsApi(settings, transport=httpx.AsyncHTTPTransport(limits=limits))

    async def bare_call(i: int) -> object:
        response = await bare.get(f"/v1/items/item-{i}")
        response.raise_for_status()
        return response.json()

    async def aiohttp_call(i: int) -> object:
        async with session.get(f"/v1/items/item-{i}") as response:
            response.raise_for_status()
            return await response.json()

    async def our_call(i: int) -> object:
        return await ours.request_json("GET", "/v1/items/{item_id}", path={"item_id": f"item-{i}"})

    async def our_httpx_call(i: int) -> object:
        return await ours_httpx.request_json(
            "GET", "/v1/items/{item_id}", path={"item_id": f"item-{i}"}
        )

    calls = dict(zip(PATHS, (bare_call, aiohttp_call, our_call, our_httpx_call), strict=True))
    rows = []
    try:
        for workers, level in SCENARIOS:
            _configure_logging(level)
            for call in calls.values():  # warm every pool and code path
                await _measure(call, 200, workers)
            rate: dict[str, list[float]] = {name: [] for name in PATHS}
            cpu: dict[str, list[float]] = {name: [] for name in PATHS}
            for round_ in range(rounds):
                order = list(calls.items())
                for name, call in order if round_ % 2 == 0 else order[::-1]:
                    per_second, cpu_us = await _measure(call, requests, workers)
                    rate[name].append(per_second)
                    cpu[name].append(cpu_us)
            rows.append(
                (
                    f"{workers:>2} concurrent, {level}",
                    {name: statistics.median(rate[name]) for name in PATHS},
                    {name: statistics.median(cpu[name]) for name in PATHS},
                ),
            )
    finally:
        await bare.aclose()
        await session.close()
        await ours.aclose()
        await ours_httpx.aclose()
    return rows


def _configure_logging(level: str) -> None:
    # What a service writes: JSON lines (to /dev/null, so the terminal is not the cost); not
    # cached, as svcinfra.observability configures it. At WARNING the success line is filtered.
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.WriteLoggerFactory(file=_SINK),
        cache_logger_on_first_use=False,
    )


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve))
        return
    requests, rounds = (300, 3) if args.quick else (2000, 7)
    port = _free_port()
    server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])  # noqa: S603
    try:
        _wait_for(port)
        rows = asyncio.run(_run(port, requests=requests, rounds=rounds))
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(f"httpclient: {requests} requests x {rounds} alternating rounds, medians")
    print("req/s, and in brackets the client's CPU us per request (this process only)")
    columns = "".join(f" {name:>22}" for name in PATHS)
    print(f"{'scenario':<22}{columns} {'ours/bare httpx':>15}")
    for name, rate, cpu in rows:
        cells = "".join(f" {rate[p]:>12.0f} ({cpu[p]:>5.0f} us)" for p in PATHS)
        print(f"{name:<22}{cells} {rate['ours'] / rate['bare httpx']:>15.2f}")
    print("ours: ApiClient on its default transport (aiohttp's pool under httpx);")
    print("ours, httpx transport: the same ApiClient on httpx's own transport, as it was before")
    print("client CPU per request (this process only) is immune to the load of other processes")


if __name__ == "__main__":
    main()
