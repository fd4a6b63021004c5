"""Benchmark: `svcinfra.httpclient.ApiClient` vs a bare `httpx.AsyncClient`, alternating in one run.

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


Row = tuple[str, float, float, float, float]


async def _run(port: int, *, requests: int, rounds: int) -> list[Row]:
    base_url = f"http://127.0.0.1:{port}"
    settings = ItemsSettings(
        base_url=base_url, api_key=SecretStr("bench-key"), connect_timeout=2.0, read_timeout=5.0,
        write_timeout=5.0, pool_timeout=5.0, deadline=10.0, max_connections=20,
        max_keepalive_connections=20,
    )  # fmt: skip
    bare = httpx.AsyncClient(
        base_url=base_url,
        timeout=httpx.Timeout(connect=2.0, read=5.0, write=5.0, pool=5.0),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=20),
        headers={"Authorization": "Bearer bench-key"},
    )
    ours = ItemsApi(settings)

    async def bare_call(i: int) -> object:
        response = await bare.get(f"/v1/items/item-{i}")
        response.raise_for_status()
        return response.json()

    async def our_call(i: int) -> object:
        return await ours.request_json("GET", "/v1/items/{item_id}", path={"item_id": f"item-{i}"})

    rows = []
    try:
        for workers, level in SCENARIOS:
            _configure_logging(level)
            await _measure(bare_call, 200, workers)  # warm both pools and code paths
            await _measure(our_call, 200, workers)
            rate: dict[str, list[float]] = {"bare": [], "ours": []}
            cpu: dict[str, list[float]] = {"bare": [], "ours": []}
            for round_ in range(rounds):
                order = [("bare", bare_call), ("ours", our_call)]
                for name, call in order if round_ % 2 == 0 else order[::-1]:
                    per_second, cpu_us = await _measure(call, requests, workers)
                    rate[name].append(per_second)
                    cpu[name].append(cpu_us)
            rows.append(
                (
                    f"{workers:>2} concurrent, {level}",
                    statistics.median(rate["bare"]),
                    statistics.median(rate["ours"]),
                    statistics.median(cpu["bare"]),
                    statistics.median(cpu["ours"]),
                ),
            )
    finally:
        await bare.aclose()
        await ours.aclose()
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
    print(
        f"{'scenario':<22} {'bare req/s':>10} {'ours req/s':>10} {'ratio':>6}"
        f" {'bare cpu us/req':>15} {'ours cpu us/req':>15} {'cpu ratio':>9}",
    )
    for name, bare, ours, bare_cpu, our_cpu in rows:
        print(
            f"{name:<22} {bare:>10.0f} {ours:>10.0f} {ours / bare:>6.2f}"
            f" {bare_cpu:>15.0f} {our_cpu:>15.0f} {bare_cpu / our_cpu:>9.2f}",
        )
    print("ratio = ApiClient / bare httpx throughput (target >= 0.90); cpu ratio = bare / ours")
    print("client CPU per request (this process only) is immune to the load of other processes")


if __name__ == "__main__":
    main()
