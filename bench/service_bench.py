"""Service benchmark: the users API as a process vs a bare FastAPI app, then writes and emails.

    .venv/bin/python bench/service_bench.py          # full run
    .venv/bin/python bench/service_bench.py --quick  # a smoke run
    .venv/bin/python bench/service_bench.py --get-only [--quick]  # the GET rows alone
    .venv/bin/python bench/service_bench.py --post-only --rounds 9  # item 3, finer

The whole stack runs as `make run` runs it (the launcher in tools/devstack, on names of its own
that are dropped at the end). Three measurements, one table:

  GET       `GET /api/v1/users/{id}` of 100 users whose profiles are in the Redis cache, against
            a bare FastAPI app returning the same JSON for the same ids, served by the same
            server as the service (`svcinfra.app.AsgiServer`: uvicorn in one process, the
            asyncio loop, h11, no access log, no lifespan). Rounds alternate bare / users so
            machine noise hits both; req/s, p50 and p99 are medians over the rounds. The users
            API also answers every request with its middleware, metrics, span and error boundary:
            that is what the ratio measures (target >= 0.7). The stack runs with ENV=dev, whose
            default traces every request; production samples 10% of new traces (ENV=prod's
            default, `ObservabilitySettings.sample_ratio`), so the users API runs twice: as the
            stack starts it (dev: every request traced) and as a second replica with
            TRACE_SAMPLE_RATIO=0.1 (prod-like), on the same database, cache and server settings.
            A last row, for reference: the bare app plus one raw redis-py GET of the cache entry
            per request (no batching), the round trip a hit cannot avoid.
            The users API's profile cache has its near layer on (`NearCache`, issue 19): a hot
            profile is served from the process with no round trip; the note under the table
            counts how many of the hits the near layer served.
  POST      `POST /api/v1/users` (insert + outbox row in one transaction), unique users, against
            a bare FastAPI app doing the same two inserts in one asyncpg transaction with the
            same pydantic body and answer (`--post-only`: this section alone). Rounds alternate;
            the users API runs prod-like (10% sampled) and as dev (all traced).
  register  -> email: registrations one at a time; the latency is to fake-mail's `accepted_at`
            for that address (same clock: one machine) from the client sending the POST, and
            from it receiving the 201 (negative: the email was out before the 201 was read).

The load generator is a separate process (a raw-socket HTTP/1.1 keep-alive client, the same for
both targets) so its CPU is not counted in either server's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))

from devstack import Ports, Stack  # noqa: E402  (the launcher is not installed)

USERS = 100
CONNECTIONS = 16
GET_BY_ID = "users__get_by_id"
PROD_SAMPLE_RATIO = "0.1"  # ENV=prod's default share of traces sampled
PROD_LIKE = "users-api-prod-sampling"
CACHE_PREFIX = "user:profile:"  # the users service's cache keys (RD-3)


def serve_bare(port: int, bodies_path: Path, *, with_redis: bool) -> None:
    """Serve the same JSON as the users API for the same ids, with the service's own server.

    `with_redis`: each request also reads the user's cache entry with a raw redis-py GET, the
    one network round trip a cache hit cannot avoid.
    """
    from fastapi import FastAPI, HTTPException  # noqa: PLC0415  (only the server process)
    from redis.asyncio import Redis  # noqa: PLC0415

    from svcinfra.app import AsgiServer  # noqa: PLC0415

    bodies: dict[str, dict[str, Any]] = json.loads(bodies_path.read_text())
    redis = Redis(host="127.0.0.1", port=6379, max_connections=50)
    app = FastAPI()

    @app.get("/api/v1/users/{user_id}")
    async def get_user(user_id: str) -> dict[str, Any]:
        if with_redis:
            await redis.get(f"{CACHE_PREFIX}{user_id}")
        body = bodies.get(user_id)
        if body is None:
            raise HTTPException(status_code=404)
        return body

    # The users API's uvicorn, configured as `users serve` configures it (AsgiServer's
    # defaults: one process, the asyncio loop, h11, no access log, no lifespan).
    asyncio.run(AsgiServer(app, host="127.0.0.1", port=port).serve())


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.lower() == "content-length":
            length = int(value)
        elif name.lower() == "transfer-encoding":
            raise SystemExit("chunked responses are not supported by this load generator")
    await reader.readexactly(length)
    return int(lines[0].split(" ", 2)[1])


async def _load(port: int, mode: str, seconds: float, ids: list[str]) -> dict[str, Any]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    tag = secrets.token_hex(3)
    stop = time.perf_counter() + seconds

    def request(worker: int, i: int) -> bytes:
        if mode == "get":
            path = f"/api/v1/users/{ids[(worker * 7 + i) % len(ids)]}"
            return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        name = f"b{tag}_{worker}_{i}"
        body = json.dumps({"email": f"{name}@example.com", "username": name, "display_name": name})
        return (
            "POST /api/v1/users HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n{body}"
        ).encode()

    async def worker(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        clock = time.perf_counter
        i = 0
        while clock() < stop:
            payload = request(n, i)
            started = clock()
            writer.write(payload)
            status = await _read_response(reader)
            latencies.append(clock() - started)
            statuses[status] += 1
            i += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(CONNECTIONS)))
    elapsed = time.perf_counter() - started
    return {
        "rps": len(latencies) / elapsed,
        "p50": _pct(latencies, 0.50),
        "p99": _pct(latencies, 0.99),
        "statuses": dict(statuses),
    }


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def run_load(
    port: int, mode: str, seconds: float, ids: list[str], *, server_pid: int | None = None
) -> dict[str, Any]:
    """Run the load generator in a child process; return its result.

    With `server_pid`, also the server's CPU time per request (`cpu_us`): unlike req/s and
    latency, it does not change with what else runs on the machine.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(ids, file)
    argv = [sys.executable, __file__, "--load", str(port), mode, str(seconds), file.name]
    cpu = cpu_seconds(server_pid) if server_pid else 0.0
    done = subprocess.run(argv, capture_output=True, text=True, check=True)  # noqa: S603
    Path(file.name).unlink()
    result: dict[str, Any] = json.loads(done.stdout)
    if server_pid:
        requests = sum(result["statuses"].values())
        result["cpu_us"] = (cpu_seconds(server_pid) - cpu) / max(requests, 1) * 1e6
    return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux `/proc`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric(http: httpx.Client, url: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` with `labels` on a /metrics page."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    value = 0.0
    for family in text_string_to_metric_families(http.get(f"{url}/metrics").text):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                value += sample.value
    return value


def near_hits(http: httpx.Client, tech_urls: list[str]) -> float:
    """Hits the users APIs' near caches served so far (no round trip to Redis)."""
    return sum(metric(http, url, "svcinfra_cache_near_total", event="hit") for url in tech_urls)


def create_users(http: httpx.Client, api: str, count: int) -> list[dict[str, Any]]:
    """Register `count` users and read each twice (the second read is from the cache)."""
    tag = secrets.token_hex(3)
    users = []
    for i in range(count):
        name = f"g{tag}_{i}"
        body = {"email": f"{name}@example.com", "username": name, "display_name": name}
        response = http.post(f"{api}/api/v1/users", json=body)
        response.raise_for_status()
        user_id = response.json()["id"]
        http.get(f"{api}/api/v1/users/{user_id}").raise_for_status()
        users.append(http.get(f"{api}/api/v1/users/{user_id}").raise_for_status().json())
    return users


def bench_get(  # noqa: PLR0915  (one scenario, start to end)
    stack: Stack, http: httpx.Client, *, seconds: float, rounds: int
) -> tuple[dict[str, dict[str, float]], str]:
    """Run rounds of GETs on every target in alternating order; return medians and a cache note."""
    api = stack.users_api_url
    users = create_users(http, api, USERS)
    ids = [user["id"] for user in users]
    bodies = Path(tempfile.mkstemp(suffix=".json")[1])
    bodies.write_text(json.dumps({user["id"]: user for user in users}))
    dev = stack.process("users-api")
    prod = stack.spawn("users-api", PROD_LIKE, env={"TRACE_SAMPLE_RATIO": PROD_SAMPLE_RATIO})
    users_apis = (dev, prod)
    assert dev.api_port is not None  # noqa: S101
    assert prod.api_port is not None  # noqa: S101
    bare_port, redis_port = _free_port(), _free_port()
    command = [sys.executable, __file__, "--bare", str(bodies)]
    bare = subprocess.Popen([*command, str(bare_port)])  # noqa: S603
    bare_redis = subprocess.Popen([*command, str(redis_port), "--with-redis"])  # noqa: S603
    try:
        _wait_for(bare_port)
        _wait_for(redis_port)
        sample = ids[0]
        bare_body = http.get(f"http://127.0.0.1:{bare_port}/api/v1/users/{sample}").json()
        same = all(
            http.get(f"{users_api.api_url}/api/v1/users/{sample}").json() == bare_body
            for users_api in users_apis
        )
        if not same:
            raise SystemExit("the bare app does not return the users API's JSON")
        targets = {
            "bare FastAPI": (bare_port, bare.pid),
            "users API hit, prod sampling (10%)": (prod.api_port, prod.pid),
            "users API hit, dev (all traced)": (dev.api_port, dev.pid),
            "bare FastAPI + raw Redis GET": (redis_port, bare_redis.pid),
        }
        users_ports = {dev.api_port, prod.api_port}
        for target_port, _ in targets.values():  # warm them all
            run_load(target_port, "get", 1.0, ids)

        def counters() -> tuple[float, float]:
            """Cache hits and get_by_id queries of both users APIs so far."""
            techs = [api.tech_url for api in users_apis]
            return (
                sum(metric(http, t, "svcinfra_cache_lookups_total", result="hit") for t in techs),
                sum(
                    metric(http, t, "svcinfra_db_query_duration_seconds_count", query=GET_BY_ID)
                    for t in techs
                ),
            )

        near = near_hits(http, [api.tech_url for api in users_apis])
        hits, loads = counters()
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        served = 0
        for round_ in range(rounds):
            order = list(targets.items())
            for name, (target_port, pid) in order if round_ % 2 == 0 else order[::-1]:
                result = run_load(target_port, "get", seconds, ids, server_pid=pid)
                results[name].append(result)
                if target_port in users_ports:
                    served += sum(result["statuses"].values())
        hits_after, loads_after = counters()
        hits, loads = hits_after - hits, loads_after - loads
        near = near_hits(http, [api.tech_url for api in users_apis]) - near
    finally:
        stack.discard(PROD_LIKE)
        for server in (bare, bare_redis):
            server.terminate()
            server.wait(timeout=10)
        bodies.unlink()
    note = (
        f"cache hits {hits:.0f} / users API GETs measured {served}; get_by_id queries {loads:.0f}"
        f"; of the hits, served by the near cache {near:.0f}"
    )
    medians = {
        name: {
            key: statistics.median(r[key] for r in rs) for key in ("rps", "p50", "p99", "cpu_us")
        }
        for name, rs in results.items()
    }
    for name, rs in results.items():
        bad = {s: n for r in rs for s, n in r["statuses"].items() if s != "200"}
        if bad:
            raise SystemExit(f"{name} answered non-200 statuses: {bad}")
    return medians, note


def bench_register_to_email(
    stack: Stack, http: httpx.Client, count: int
) -> tuple[list[float], list[float]]:
    """Register `count` users one by one; return (POST sent, 201 received) -> accepted_at, ms."""
    tag = secrets.token_hex(3)
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}
    for i in range(count):
        name = f"m{tag}_{i}"
        body = {"email": f"{name}@example.com", "username": name, "display_name": name}
        sent[body["email"]] = time.time()
        response = http.post(f"{stack.users_api_url}/api/v1/users", json=body)
        answered[body["email"]] = time.time()
        response.raise_for_status()
    accepted: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while len(accepted) < count and time.monotonic() < deadline:
        listed = http.get(f"{stack.fake_mail_url}/v1/messages", headers=stack.fake_mail_headers)
        for message in listed.raise_for_status().json()["messages"]:
            if message["to"] in answered:
                stamp = datetime.fromisoformat(message["accepted_at"])
                accepted[message["to"]] = stamp.timestamp()
        time.sleep(0.2)
    if len(accepted) < count:
        raise SystemExit(f"only {len(accepted)} of {count} welcome emails arrived within 60 s")
    return (
        [(accepted[email] - sent[email]) * 1000 for email in sent],
        [(accepted[email] - answered[email]) * 1000 for email in answered],
    )


# --- POST: the users API vs a bare FastAPI app doing the same writes (issue 19, item 3) ---

POST_PROD_LIKE = "users-api-post-prod-sampling"
# The API without the writer's publish (OUTBOX_RELAY_WRITER_PUBLISH=false): the relay sends all.
POST_RELAY_ONLY = "users-api-post-relay-only"
BARE_INSERT_USER = (
    "INSERT INTO users (email, username, display_name) VALUES ($1, $2, $3) "
    "RETURNING id, email, username, display_name, created_at, updated_at"
)
# The outbox row as `Outbox.add` writes it (svcinfra's outbox__add, with its NOTIFY).
BARE_INSERT_OUTBOX = (
    "WITH added AS (INSERT INTO svcinfra_outbox (id, message_name, payload, correlation_id,"
    " headers) VALUES ($1::uuid, $2, $3::jsonb, $4, $5::jsonb) RETURNING id)"
    " SELECT pg_notify('svcinfra_outbox', '') FROM added"
)


def serve_bare_post(port: int, dsn: str) -> None:
    """The POST of the users API done the bare way, served by the service's own server.

    The same pydantic body (`CreateUser`) and answer (`UserOut`, 201, `Location`), the same user
    insert and outbox insert (with its NOTIFY) in one asyncpg transaction on a pool of the users
    API's size; what it leaves out is the service's: the domain's checks, error mapping and
    contract validation, metrics, traces and the error boundary.
    """
    import uuid  # noqa: PLC0415  (only the server process)

    import asyncpg  # noqa: PLC0415
    from fastapi import FastAPI, Response  # noqa: PLC0415
    from users.transport.http.dto import CreateUser, UserOut  # noqa: PLC0415

    from svcinfra.app import AsgiServer  # noqa: PLC0415

    app = FastAPI()
    pools: list[asyncpg.Pool] = []

    async def create_user(body: CreateUser, response: Response) -> UserOut:
        async with pools[0].acquire() as con, con.transaction():
            row = await con.fetchrow(
                BARE_INSERT_USER, body.email.lower(), body.username.lower(), body.display_name
            )
            payload = {
                "user_id": str(row["id"]),
                "email": row["email"],
                "username": row["username"],
                "display_name": row["display_name"],
                "registered_at": row["created_at"].isoformat().replace("+00:00", "Z"),
            }
            await con.execute(
                BARE_INSERT_OUTBOX,
                str(uuid.uuid4()),
                "user.registered.v1",
                json.dumps(payload, separators=(",", ":")),
                None,
                "{}",
            )
        response.headers["Location"] = f"/api/v1/users/{row['id']}"
        return UserOut(**dict(row))

    # This module's annotations are strings (PEP 563) naming what only this function imports.
    create_user.__annotations__ = {"body": CreateUser, "response": Response, "return": UserOut}
    app.post("/api/v1/users", status_code=201)(create_user)

    async def serve() -> None:
        pools.append(await asyncpg.create_pool(dsn, min_size=1, max_size=10))
        await AsgiServer(app, host="127.0.0.1", port=port).serve()

    asyncio.run(serve())


def _users_dsn(stack: Stack) -> str:
    env = stack.service_env("users")
    return (
        f"postgresql://{env['USERS_POSTGRES_USER']}:{env['USERS_POSTGRES_PASSWORD']}"
        f"@{env['USERS_POSTGRES_HOST']}:{env['USERS_POSTGRES_PORT']}/{env['USERS_POSTGRES_DB']}"
    )


def bench_post_side_by_side(
    stack: Stack, http: httpx.Client, *, seconds: float, rounds: int
) -> dict[str, dict[str, Any]]:
    """POST unique users to the bare app and the users API in alternating rounds; medians.

    The users API runs as deployed (prod sampling, 10%) and as the dev stack starts it (every
    request traced); all write to the same database, whose relay publishes every outbox row.
    """
    dev = stack.process("users-api")
    prod = stack.spawn("users-api", POST_PROD_LIKE, env={"TRACE_SAMPLE_RATIO": PROD_SAMPLE_RATIO})
    relay_only = stack.spawn(
        "users-api",
        POST_RELAY_ONLY,
        env={"TRACE_SAMPLE_RATIO": PROD_SAMPLE_RATIO, "OUTBOX_RELAY_WRITER_PUBLISH": "false"},
    )
    assert dev.api_port is not None  # noqa: S101
    assert prod.api_port is not None  # noqa: S101
    assert relay_only.api_port is not None  # noqa: S101
    bare_port = _free_port()
    # The password goes through the environment, not the command line (`ps` shows argv).
    bare = subprocess.Popen(  # noqa: S603
        [sys.executable, __file__, "--bare-post", str(bare_port)],
        env={**os.environ, "BENCH_USERS_DSN": _users_dsn(stack)},
    )
    try:
        _wait_for(bare_port)
        tag = secrets.token_hex(3)
        shapes = []
        for n, port in enumerate((bare_port, prod.api_port, relay_only.api_port, dev.api_port)):
            name = f"s{tag}_{n}"
            body = {"email": f"{name}@example.com", "username": name, "display_name": name}
            answer = http.post(f"http://127.0.0.1:{port}/api/v1/users", json=body)
            answer.raise_for_status()
            created = answer.json()
            if answer.headers["location"] != f"/api/v1/users/{created['id']}":
                raise SystemExit(f"port {port} answered a wrong Location")
            shapes.append(sorted(created))
        if len({tuple(shape) for shape in shapes}) != 1:
            raise SystemExit(f"the bare POST does not answer the users API's JSON: {shapes}")
        targets = {
            "bare FastAPI + asyncpg": (bare_port, bare.pid),
            "users API, prod sampling (10%)": (prod.api_port, prod.pid),
            "users API, prod sampling, relay only": (relay_only.api_port, relay_only.pid),
            "users API, dev (all traced)": (dev.api_port, dev.pid),
        }
        for target_port, _ in targets.values():  # warm them all
            run_load(target_port, "post", 1.0, [])
        results: dict[str, list[dict[str, Any]]] = {name: [] for name in targets}
        dispatched = -metric(http, prod.tech_url, "svcinfra_amqp_outbox_dispatched_total")
        for round_ in range(rounds):
            order = list(targets.items())
            for name, (target_port, pid) in order if round_ % 2 == 0 else order[::-1]:
                results[name].append(run_load(target_port, "post", seconds, [], server_pid=pid))
        # The API's own publishes in the rounds: at saturation a query waits for a pool
        # connection at nearly every POST, so the rows go to the relay (Dispatcher's bound).
        dispatched += metric(http, prod.tech_url, "svcinfra_amqp_outbox_dispatched_total")
    finally:
        stack.discard(POST_PROD_LIKE)
        stack.discard(POST_RELAY_ONLY)
        bare.terminate()
        bare.wait(timeout=10)
    for name, rs in results.items():
        bad = {s: n for r in rs for s, n in r["statuses"].items() if s != "201"}
        if bad:
            raise SystemExit(f"POST {name} answered non-201 statuses: {bad}")
    rows: dict[str, dict[str, Any]] = {
        name: {
            key: statistics.median(r[key] for r in rs) for key in ("rps", "p50", "p99", "cpu_us")
        }
        | {"cpu_all": [round(r["cpu_us"]) for r in rs]}
        for name, rs in results.items()
    }
    # The rounds alternate the targets, so each round's load weighs on all of them about alike:
    # the median of the within-round ratios to bare is steadier than the ratio of the medians.
    bare_rounds = results["bare FastAPI + asyncpg"]
    for name, rs in results.items():
        rows[name]["paired"] = statistics.median(
            b["cpu_us"] / r["cpu_us"] for b, r in zip(bare_rounds, rs, strict=True)
        )
    sent = sum(sum(r["statuses"].values()) for r in results["users API, prod sampling (10%)"])
    rows["users API, prod sampling (10%)"]["dispatched"] = f"{dispatched:.0f} of {sent}"
    return rows


def print_post(rows: dict[str, dict[str, Any]], *, rounds: int, seconds: float) -> None:
    """The POST rows: req/s and server CPU per request against the bare app's, same run."""
    bare = rows["bare FastAPI + asyncpg"]
    print(
        f"POST /api/v1/users (insert + outbox, one transaction): {rounds} x {seconds:.0f} s"
        f" alternating rounds, medians; cpu ratio = bare's CPU/req / the row's (target >= 0.9);"
        " paired: the median of the rounds' own ratios"
    )
    for name, row in rows.items():
        print(
            f"{'POST ' + name:<40} {row['rps']:>7.0f} {row['p50']:>8.2f} {row['p99']:>8.2f}"
            f" {row['rps'] / bare['rps']:>6.2f} {row['cpu_us']:>17.0f}"
            f" {bare['cpu_us'] / row['cpu_us']:>9.2f} paired {row['paired']:.2f}"
            f"  (rounds: {row['cpu_all']} us)"
        )
    print(
        "rows the prod-sampling API published itself (writer publish on; the relay sent the"
        f" rest): {rows['users API, prod sampling (10%)']['dispatched']} POSTs"
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for(port: int) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the bare app did not start on port {port}")


def print_get(
    get: dict[str, dict[str, float]], cache_note: str, *, rounds: int, seconds: float
) -> None:
    """The GET rows alone (`--get-only`)."""
    bare = get["bare FastAPI"]
    print(
        f"GET: {CONNECTIONS} connections, {rounds} x {seconds:.0f} s alternating rounds (medians)"
    )
    print(
        f"{'scenario':<40} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}"
        f" {'server cpu us/req':>17} {'cpu ratio':>9}"
    )
    for name, row in get.items():
        print(
            f"{'GET ' + name:<40} {row['rps']:>7.0f} {row['p50']:>8.2f} {row['p99']:>8.2f}"
            f" {row['rps'] / bare['rps']:>6.2f} {row['cpu_us']:>17.0f}"
            f" {bare['cpu_us'] / row['cpu_us']:>9.2f}"
        )
    print(cache_note)


def main() -> None:  # noqa: C901, PLR0912, PLR0915  (one flag per section, start to end)
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--bare", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--with-redis", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--bare-post", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--post-only", action="store_true", help="only the POST rows")
    parser.add_argument("--get-only", action="store_true", help="only the GET rows")
    parser.add_argument(
        "--rounds",
        type=int,
        help="rounds of every section (default 5; 2 with --quick): more rounds resolve a smaller"
        " change, as CPU per request moves several percent between two rounds",
    )
    parser.add_argument("--load", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        serve_bare(int(args.bare[1]), Path(args.bare[0]), with_redis=args.with_redis)
        return
    if args.bare_post:
        serve_bare_post(args.bare_post, os.environ["BENCH_USERS_DSN"])
        return
    if args.load:
        port, mode, seconds, ids_path = args.load
        ids = json.loads(Path(ids_path).read_text())
        print(json.dumps(asyncio.run(_load(int(port), mode, float(seconds), ids))))
        return
    seconds, rounds, post_seconds, emails = (2.0, 2, 2.0, 20) if args.quick else (5.0, 5, 5.0, 100)
    post_rounds = 2 if args.quick else 5
    if args.rounds:
        rounds = post_rounds = args.rounds
    logs = Path(tempfile.mkdtemp(prefix="service-bench-"))
    stack = Stack(run_id=f"b{secrets.token_hex(4)}", ports=Ports.free(), log_dir=logs)
    stack.start()
    try:
        with httpx.Client(timeout=30) as http:
            if args.post_only:
                posts = bench_post_side_by_side(
                    stack, http, seconds=post_seconds, rounds=post_rounds
                )
            elif args.get_only:
                load_before = os.getloadavg()
                get, cache_note = bench_get(stack, http, seconds=seconds, rounds=rounds)
                load_after = os.getloadavg()
            else:
                get, cache_note = bench_get(stack, http, seconds=seconds, rounds=rounds)
                from_post, from_201 = bench_register_to_email(stack, http, emails)
                posts = bench_post_side_by_side(
                    stack, http, seconds=post_seconds, rounds=post_rounds
                )
    except BaseException:
        print(f"the processes' logs are in {logs}")
        raise
    finally:
        stack.stop()
    shutil.rmtree(logs)
    if args.post_only:
        print_post(posts, rounds=post_rounds, seconds=post_seconds)
        return
    if args.get_only:
        print_get(get, cache_note, rounds=rounds, seconds=seconds)
        print(
            "load average (1 min) before / after the GET rounds: "
            f"{load_before[0]:.2f} / {load_after[0]:.2f} on {os.cpu_count()} CPUs"
        )
        return
    bare = get["bare FastAPI"]
    print(
        f"service bench: {CONNECTIONS} connections, GET {rounds} x {seconds:.0f} s alternating "
        f"rounds (medians), POST {post_seconds:.0f} s, {emails} registrations one by one"
    )
    head = f"{'scenario':<40} {'req/s':>7} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}"
    print(f"{head} {'server cpu us/req':>17} {'cpu ratio':>9}")
    for name, row in get.items():
        print(
            f"{'GET ' + name:<40} {row['rps']:>7.0f} {row['p50']:>8.2f} {row['p99']:>8.2f}"
            f" {row['rps'] / bare['rps']:>6.2f} {row['cpu_us']:>17.0f}"
            f" {bare['cpu_us'] / row['cpu_us']:>9.2f}"
        )
    for name, values in (
        ("register -> email (from POST sent)", from_post),
        ("register -> email (from the 201)", from_201),
    ):
        p50, p99 = statistics.median(values), _pct([v / 1000 for v in values], 0.99)
        print(f"{name:<40} {'':>7} {p50:>8.2f} {p99:>8.2f}")
    print(
        f"ratio = req/s / bare FastAPI's (users API target >= 0.70, as deployed: prod sampling);"
        f" cpu ratio = bare's server CPU per request / the row's (immune to other load on the"
        f" machine)\n"
        f"{cache_note}"
    )
    print_post(posts, rounds=post_rounds, seconds=post_seconds)


if __name__ == "__main__":
    main()
