"""Benchmark: every hand-written fast path with and without it, at the service level (issue 19.7).

Each fast path replaced a library's own path to save CPU; it keeps its place only if it saves
3 % or more of an operation a service performs (simpler code wins ties). Three sections, each
running its variants side by side in one run, in alternating order from round to round, with
medians of the rounds. The figure that decides is this process's (or the server process's) CPU
time per operation: on a machine shared with other work, wall-clock rates move with the load,
CPU time per operation much less.

  http      An external API call through `svcinfra.httpclient.ApiClient`, as a service makes it:
            production JSON logging at INFO (one line per call, to /dev/null), a tracer
            provider sampling 10 % (ENV=prod's default; no exporter), metrics; a small JSON
            answer from a keep-alive HTTP/1.1 endpoint in a child process (its CPU not counted),
            16 callers at once. Variants: the adapter as it is (tenacity's engine driven by
            hand, the request-builder bypass, the deadline kept by `asyncio.timeout_at`); the
            deadline kept by one shared `DeadlineWatch` instead (the fast path this bench
            removed); tenacity's own `AsyncRetrying`; `httpx.AsyncClient.build_request`;
            httpx's cookie jar reading every answer (ours reads those with a `Set-Cookie`); both
            library paths at once.
  messaging Publish + consume through the messaging layer: the `Publisher` (confirms, window 100)
            sends `user.registered.v1` to the notifications queue while a `Consumer` (inbox row +
            handler in one PostgreSQL transaction, then the ack) takes them; the clock stops when
            the last one is acked. Both sides validate the payload against the contract.
            Variants: as it is (the fastjsonschema-compiled check of `_fastcheck`, jsonschema
            the judge of a failure; the publisher's confirm deadline kept by its
            `DeadlineWatch`); jsonschema's `is_valid` alone; the confirm deadline kept by
            `asyncio.timeout_at` instead.
  service   Requests through the users service (`users serve`, as the dev stack starts it, with
            ENV=prod's 10 % trace sampling): GET a cached user and POST a new one, 16
            keep-alive connections (`service_bench.py`'s load generator, in its own process),
            against two replicas on the same stack: start-up `gc` freeze and raised threshold
            (`svcinfra.app._gc.tune_gc`) on, and off (the interpreter's defaults). The CPU is
            the server process's, from /proc.

Every section has an A/A row where it is cheap (the same path twice): its delta is the noise.
The decisions and the figures of record are in docs/fastpaths.md; the run that replaced the
hand-written payload compiler (its rows: `_fastcheck` as it was, fastjsonschema, jsonschema)
is commit 6602f77's version of this file.

    .venv/bin/python bench/fastpaths_bench.py                      # full run
    .venv/bin/python bench/fastpaths_bench.py --quick              # a smoke run
    .venv/bin/python bench/fastpaths_bench.py --sections http,messaging
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aio_pika
import httpx

# Sibling benches: the script's own folder is on sys.path when it runs.
from deadline_watch import DeadlineWatch
from httpclient_bench import _serve, _wait_for
from messaging_bench import _database, _drop_database
from messaging_publish_bench import CONTRACT, EVENT, PAYLOAD, URL, USERS, contract_for
from prometheus_client import REGISTRY
from pydantic import SecretStr
from tenacity import AsyncRetrying

from svcinfra.httpclient import ApiClient, HttpClientSettings
from svcinfra.httpclient._call import Call, QueryValue, run_with_retries
from svcinfra.httpclient._errors import DeadlineExceededError, ExternalApiError
from svcinfra.messaging import Publisher, declare_topology
from svcinfra.messaging.consumer import Consumer
from svcinfra.messaging.topology import Topology
from svcinfra.observability import configure_logging, configure_tracing

Op = Callable[[], Awaitable[object]]
Runner = Callable[
    [Call, Callable[[Call], Awaitable["httpx.Response"]]], Awaitable["httpx.Response"]
]
CALLERS = 16
THRESHOLD = 3.0  # % of the service-level CPU per operation a fast path must save
_SINK = Path(os.devnull).open("w", encoding="utf-8")  # noqa: SIM115  (one sink for the run)


# ---------------------------------------------------------------- http: the library's paths


class ItemsSettings(HttpClientSettings):
    """Settings of the benchmarked API."""

    env_section = "ITEMS_API_"


class ItemsApi(ApiClient):
    """The adapter as it is."""

    name = "items-api"


async def run_with_async_retrying(
    call: Call, attempt: Callable[[Call], Awaitable[httpx.Response]]
) -> httpx.Response:
    """tenacity's own loop: `AsyncRetrying` with the call's strategies, one engine per call."""
    retrying = AsyncRetrying(
        retry=call.should_retry, wait=call.wait, stop=call.stop,
        before_sleep=call.before_sleep, reraise=True,
    )  # fmt: skip
    return await retrying(attempt, call)


async def _send_with_timeout(
    client: ItemsApi,
    call: Call,
    runner: Runner,
) -> httpx.Response:
    """`ApiClient._send` with the total deadline kept by `asyncio.timeout_at` (one timer each)."""
    timeout = asyncio.timeout_at(call.deadline_at)
    try:
        async with timeout:
            return await runner(call, client._attempt)  # noqa: SLF001
    except ExternalApiError as error:
        error.attempts = call.attempts
        raise
    except TimeoutError as exc:
        if not timeout.expired():
            raise
        raise DeadlineExceededError(
            f"deadline of {call.deadline:g}s exceeded", adapter=client.name,
            method=call.method, route=call.route, reason="deadline", attempts=call.attempts,
        ) from exc  # fmt: skip


async def _send_with_watch(client: WatchApi, call: Call) -> httpx.Response:
    """`ApiClient._send` as it was: the deadline kept by one `DeadlineWatch` for all calls."""
    watched = client.watch.enter(call.deadline_at)
    try:
        try:
            return await run_with_retries(call, client._attempt)  # noqa: SLF001
        finally:
            expired = watched.leave()
    except ExternalApiError as error:
        error.attempts = call.attempts
        raise
    except asyncio.CancelledError:
        if not expired:
            raise
        raise DeadlineExceededError(
            f"deadline of {call.deadline:g}s exceeded", adapter=client.name,
            method=call.method, route=call.route, reason="deadline", attempts=call.attempts,
        ) from None  # fmt: skip


class WatchApi(ItemsApi):
    """The deadline kept by a shared `DeadlineWatch` (the fast path issue 19 removed)."""

    name = "items-api-deadline-watch"

    def __init__(self, settings: ItemsSettings) -> None:
        super().__init__(settings)
        self.watch = DeadlineWatch()

    async def _send(self, call: Call) -> httpx.Response:
        return await _send_with_watch(self, call)


class AsyncRetryingApi(ItemsApi):
    """Retries through `tenacity.AsyncRetrying`."""

    name = "items-api-asyncretrying"

    async def _send(self, call: Call) -> httpx.Response:
        return await _send_with_timeout(self, call, run_with_async_retrying)


def _build_with_httpx(
    client: ItemsApi,
    method: str,
    path: str,
    *,
    params: Mapping[str, QueryValue] | None,
    content: bytes | None,
    headers: dict[str, str],
) -> httpx.Request:
    return client._http.build_request(  # noqa: SLF001
        method, path, params=params, content=content, headers=headers
    )


class BuildRequestApi(ItemsApi):
    """Requests built by `httpx.AsyncClient.build_request`."""

    name = "items-api-build-request"
    _build_request = _build_with_httpx  # type: ignore[assignment]


class LibraryApi(ItemsApi):
    """Both library paths (the deadline is asyncio's already)."""

    name = "items-api-library"
    _build_request = _build_with_httpx  # type: ignore[assignment]

    async def _send(self, call: Call) -> httpx.Response:
        return await _send_with_timeout(self, call, run_with_async_retrying)


class HttpxTransportApi(ItemsApi):
    """Sent through httpx's own transport (httpcore) instead of `PooledTransport`."""

    name = "items-api-httpx-transport"

    def __init__(self, settings: ItemsSettings) -> None:
        limits = httpx.Limits(
            max_connections=settings.max_connections,
            max_keepalive_connections=settings.max_keepalive_connections,
            keepalive_expiry=settings.keepalive_expiry,
        )
        super().__init__(settings, transport=httpx.AsyncHTTPTransport(limits=limits))


class EveryAnswerCookiesApi(ItemsApi):
    """httpx's cookie jar, which reads every answer, with or without a `Set-Cookie`."""

    name = "items-api-every-answer-cookies"

    def __init__(self, settings: ItemsSettings) -> None:
        super().__init__(settings)
        self._http.cookies = httpx.Cookies()  # the setter: httpx's own class


HTTP_VARIANTS: dict[str, type[ItemsApi]] = {
    "as is (kept fast paths, asyncio deadline)": ItemsApi,
    "as is, again (A/A control: the noise)": ItemsApi,
    "deadline: one DeadlineWatch (removed)": WatchApi,
    "retries: tenacity AsyncRetrying": AsyncRetryingApi,
    "request: httpx build_request": BuildRequestApi,
    "cookies: httpx reads every answer": EveryAnswerCookiesApi,
    "both library paths": LibraryApi,
    "transport: httpx's own (httpcore)": HttpxTransportApi,
}


async def _cpu_per_op(op: Op, count: int, workers: int) -> tuple[float, float]:
    """Run `count` ops on `workers` tasks; return (ops per second, process CPU us per op)."""
    per_worker = count // workers

    async def worker() -> None:
        for _ in range(per_worker):
            await op()

    started, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(workers)))
    done = per_worker * workers
    return done / (time.perf_counter() - started), (time.process_time() - cpu) / done * 1e6


async def bench_http(port: int, *, count: int, rounds: int) -> Rows:
    """Medians of (calls/s, CPU us per call) for every variant."""
    settings = ItemsSettings(
        base_url=f"http://127.0.0.1:{port}", api_key=SecretStr("bench-key"),
        connect_timeout=2.0, read_timeout=5.0, write_timeout=5.0, pool_timeout=5.0,
        deadline=10.0, max_connections=20, max_keepalive_connections=20,
    )  # fmt: skip
    clients = {name: cls(settings) for name, cls in HTTP_VARIANTS.items()}
    counter = iter(range(10**9))

    def op_of(client: ItemsApi) -> Op:
        async def op() -> object:
            item = f"item-{next(counter)}"
            return await client.request_json("GET", "/v1/items/{item_id}", path={"item_id": item})

        return op

    ops = {name: op_of(client) for name, client in clients.items()}
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in ops}
    try:
        for op in ops.values():  # warm every pool and code path
            await _cpu_per_op(op, 400, CALLERS)
        for round_ in range(rounds):
            order = list(ops.items())
            for name, op in order if round_ % 2 == 0 else order[::-1]:
                runs[name].append(await _cpu_per_op(op, count, CALLERS))
    finally:
        for client in clients.values():
            await client.aclose()
    return _medians(runs)


Rows = dict[str, tuple[float, float, float]]
"""Variant -> (median ops/s, median CPU us per op, median of the rounds' CPU ratios to as is)."""


def _medians(runs: Mapping[str, list[tuple[float, float]]]) -> Rows:
    """Medians over the rounds; the ratio is taken within each round (paired), then the median.

    A round's variants run back to back, so the load of the machine at that moment weighs on
    each of them about alike: the within-round ratio to the first variant ("as is") is steadier
    than the ratio of the medians.
    """
    first = next(iter(runs.values()))
    return {
        name: (
            statistics.median(r for r, _ in rs),
            statistics.median(c for _, c in rs),
            statistics.median(c / base for (_, c), (_, base) in zip(rs, first, strict=True)),
        )
        for name, rs in runs.items()
    }


# ---------------------------------------------------------------- messaging


class _Validation:
    """Switches the compiled check of every validator of the given contracts on or off."""

    def __init__(self, *contracts: Any) -> None:  # noqa: ANN401
        self.validators = [v for c in contracts for v in c.validators.values()]
        self.fast = [v._fast for v in self.validators]  # noqa: SLF001

    def use(self, kind: str) -> None:
        for validator, fast in zip(self.validators, self.fast, strict=True):
            validator._fast = fast if kind == "compiled" else None  # noqa: SLF001


_CONFIRM_WATCH = DeadlineWatch()


async def _publish_once_with_watch(
    self: Publisher,
    channel: Any,  # noqa: ANN401
    body: bytes,
    *,
    exchange: str,
    routing_key: str,
    properties: Any,  # noqa: ANN401
    confirm_within: float,
    mandatory: bool = True,
) -> None:
    """`Publisher._publish_once` as it was: the confirm limit kept by one shared `DeadlineWatch`."""
    del self
    watched = _CONFIRM_WATCH.enter(asyncio.get_running_loop().time() + confirm_within)
    try:
        try:
            await channel.basic_publish(
                body, exchange=exchange, routing_key=routing_key, properties=properties,
                mandatory=mandatory,
            )  # fmt: skip
        finally:
            expired = watched.leave()
    except asyncio.CancelledError:
        if expired:
            raise TimeoutError("no publisher confirm within the confirm timeout") from None
        raise


async def bench_messaging(*, count: int, rounds: int) -> Rows:  # noqa: C901, PLR0915
    """Medians of (messages/s, CPU us per published + consumed message) for every variant."""
    prefix = f"fastpaths{os.getpid()}"
    consumer_contract = contract_for(CONTRACT, prefix)
    users = contract_for(USERS, prefix)
    topology = Topology.from_contract(consumer_contract)  # type: ignore[arg-type]
    queue_name = f"{prefix}.notifications.user-events"
    dbname = f"bench_fastpaths_{os.getpid()}"
    db: Any = await _database(dbname)
    validation = _Validation(users, consumer_contract)
    original_publish_once = Publisher._publish_once  # noqa: SLF001
    variants: dict[str, tuple[str, bool]] = {
        "as is (fastjsonschema check, aiormq's confirm timeout)": ("compiled", False),
        "as is, again (A/A control: the noise)": ("compiled", False),
        "validate: jsonschema is_valid alone": ("jsonschema", False),
        "confirm deadline: one DeadlineWatch (removed)": ("compiled", True),
    }
    labels = {"message": EVENT, "queue": queue_name, "outcome": "processed"}

    def acked() -> float:
        return REGISTRY.get_sample_value("svcinfra_amqp_messages_acked_total", labels) or 0.0

    handled = 0
    target = 0
    reached = asyncio.Event()

    async def handler(*_: object) -> None:
        nonlocal handled
        handled += 1
        if handled >= target:
            reached.set()

    connection = await aio_pika.connect(URL)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    try:
        async with connection:
            await declare_topology(connection, topology)
            consumer = Consumer(consumer_contract, db, url=URL, name="bench", prefetch=100)  # type: ignore[arg-type]
            consumer.on(EVENT, handler)
            consuming = asyncio.create_task(consumer.run())
            async with Publisher(users, url=URL, name="bench") as publisher:  # type: ignore[arg-type]

                async def one_run(n: int) -> tuple[float, float]:
                    nonlocal target
                    before = acked()
                    target = handled + n
                    reached.clear()
                    started, cpu = time.perf_counter(), time.process_time()
                    for _ in range(n // 100):
                        await asyncio.gather(
                            *(publisher.publish(EVENT, PAYLOAD, correlation_id="bench")
                              for _ in range(100))
                        )  # fmt: skip
                    await reached.wait()
                    while acked() < before + n:  # noqa: ASYNC110  (a metric has no event)
                        await asyncio.sleep(0.0005)
                    elapsed, used = time.perf_counter() - started, time.process_time() - cpu
                    return n / elapsed, used / n * 1e6

                def use(kind: str, *, timeout: bool) -> None:
                    validation.use(kind)
                    Publisher._publish_once = (  # type: ignore[method-assign]  # noqa: SLF001
                        _publish_once_with_watch if timeout else original_publish_once
                    )

                for kind, timeout in variants.values():  # warm up every path
                    use(kind, timeout=timeout)
                    await one_run(200)
                for round_ in range(rounds):
                    order = list(variants.items())
                    for name, (kind, timeout) in order if round_ % 2 == 0 else order[::-1]:
                        use(kind, timeout=timeout)
                        runs[name].append(await one_run(count))
                use("compiled", timeout=False)
            consumer.stop()
            await consuming
            admin = await connection.channel()
            for declared in topology.queues:
                await admin.queue_delete(declared.name)
            await admin.exchange_delete(f"{prefix}.users.events")
    finally:
        Publisher._publish_once = original_publish_once  # type: ignore[method-assign]  # noqa: SLF001
        await db.close()
        await _drop_database(dbname)
    return _medians(runs)


# ---------------------------------------------------------------- service: gc


_NO_GC_TUNING = (
    "import sys; import svcinfra.app._runner as runner; "
    "runner.tune_gc = lambda **_: None; "  # the interpreter's default collector
    "from users.__main__ import main; sys.argv[0] = 'users'; main()"
)
_AS_IS = "import sys; from users.__main__ import main; sys.argv[0] = 'users'; main()"


def bench_service(*, seconds: float, rounds: int) -> Rows:
    """Medians of (req/s, server CPU us per request) of GET (cache hit) and POST, gc on / off."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import httpx as sync_httpx  # noqa: PLC0415
    from devstack import Ports, Stack  # noqa: PLC0415
    from devstack._plan import ROLES  # noqa: PLC0415
    from service_bench import create_users, run_load  # noqa: PLC0415

    logs = Path(f"/tmp/fastpaths-bench-{os.getpid()}")  # noqa: S108
    stack = Stack(run_id=f"f{secrets.token_hex(4)}", ports=Ports.free(), log_dir=logs)
    stack.start()
    replicas = {}
    try:
        variants = (
            ("gc tuned (as is)", "users-api-gc-tuned", _AS_IS),
            ("gc tuned, again (A/A control)", "users-api-gc-tuned-2", _AS_IS),
            ("gc defaults", "users-api-gc-default", _NO_GC_TUNING),
        )
        for name, label, code in variants:
            process = stack._add(  # noqa: SLF001  (a replica with its own command line)
                ROLES["users-api"], None, name=label, extra={"TRACE_SAMPLE_RATIO": "0.1"}
            )
            process.argv = (sys.executable, "-c", code, "serve")
            process.start()
            process.wait_ready(60.0)
            replicas[name] = process
        with sync_httpx.Client(timeout=10) as http:
            ids = [user["id"] for user in create_users(http, stack.users_api_url, 100)]
            for process in replicas.values():  # each replica's cache client warm, entries hit
                for user_id in ids:
                    http.get(f"{process.api_url}/api/v1/users/{user_id}").raise_for_status()
        runs: dict[str, dict[str, list[tuple[float, float]]]] = {"get": {}, "post": {}}
        for mode in ("get", "post"):
            for process in replicas.values():
                run_load(process.api_port, mode, 1.0, ids)  # warm-up
            for round_ in range(rounds):
                order = list(replicas.items())
                for name, process in order if round_ % 2 == 0 else order[::-1]:
                    result = run_load(process.api_port, mode, seconds, ids, server_pid=process.pid)
                    bad = {s: n for s, n in result["statuses"].items() if s not in {"200", "201"}}
                    if bad:
                        raise SystemExit(f"{name} {mode}: non-2xx statuses {bad}")
                    key = f"{mode.upper()} {'cached user' if mode == 'get' else 'a user'}, {name}"
                    runs[mode].setdefault(key, []).append((result["rps"], result["cpu_us"]))
    finally:
        for label in [p.name for p in replicas.values()]:
            stack.discard(label)
        stack.stop()
    return _medians(runs["get"]) | _medians(runs["post"])


# ---------------------------------------------------------------- report


def _table(title: str, rows: Rows, unit: str) -> None:
    """Print the rows; the last column: CPU per op vs the first row (as is), paired by round."""
    print(f"\n{title}")
    print(f"{'variant':<48} {unit + '/s':>10} {'CPU us/' + unit:>14} {'CPU vs as is':>12}")
    for name, (rate, cpu, ratio) in rows.items():
        print(f"{name:<48} {rate:>10,.0f} {cpu:>14.1f} {(ratio - 1) * 100:>+11.1f}%")
    print("CPU vs as is: median over the rounds of the CPU per op relative to as is in that round")


def main() -> None:
    """Run the chosen sections and print their tables."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--sections", default="http,messaging,service")
    parser.add_argument("--rounds", type=int, default=15, help="rounds of a full run")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(_serve(args.serve))
        return
    sections = set(args.sections.split(","))
    configure_logging(service="bench", level="INFO", stream=_SINK)
    configure_tracing(service="bench", env="prod", ratio=0.1, otlp_endpoint=None)
    print(f"fastpaths bench, {'quick' if args.quick else 'full'} run; a fast path keeps its place "
          f"if it saves >= {THRESHOLD:g}% CPU per operation")  # fmt: skip
    if "http" in sections:
        count, rounds = (800, 3) if args.quick else (1000, args.rounds)
        port = _free_port()
        server = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])  # noqa: S603
        try:
            _wait_for(port)
            rows = asyncio.run(bench_http(port, count=count, rounds=rounds))
        finally:
            server.terminate()
            server.wait(timeout=10)
        _table(f"http: GET through ApiClient, {CALLERS} callers, {count} calls x {rounds} "
               "rounds, medians; this process's CPU", rows, "call")  # fmt: skip
    if "messaging" in sections:
        count, rounds = (600, 3) if args.quick else (1000, args.rounds)
        rows = asyncio.run(bench_messaging(count=count, rounds=rounds))
        title = (
            "messaging: publish (confirms, window 100) + consume (inbox, prefetch 100), "
            f"{count} msgs x {rounds} rounds, medians; this process's CPU"
        )
        _table(title, rows, "msg")
    if "service" in sections:
        seconds, rounds = (1.5, 2) if args.quick else (3.0, args.rounds)
        rows = bench_service(seconds=seconds, rounds=rounds)
        for mode in ("GET", "POST"):
            _table(
                f"service: {mode} through the users API, {16} connections, {seconds:g} s x "
                f"{rounds} rounds, medians; the server process's CPU",
                {name: row for name, row in rows.items() if name.startswith(mode)},
                "req",
            )
    print("\nthe machine was shared with other work: compare CPU per operation, not rates")


def _free_port() -> int:
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


if __name__ == "__main__":
    main()
