"""Benchmark: `Database.one` (named query, strict mapping, metrics, spans) against raw asyncpg.

Runs every path alternately in one process, several rounds each, against PostgreSQL on
127.0.0.1:5432 (a scratch database, dropped afterwards). 50 tasks share a pool of 10. A
shorter comparison runs the select with 8 tasks, fewer than connections: nobody waits there. A
last section runs the same statements and a short transaction through pgbouncer on 127.0.0.1:6432
(`scripts/infra.sh up` starts it): ours with `pooler="transaction"` against raw asyncpg with the
settings pgbouncer needs (see `pgbouncer_rows`).

    .venv/bin/python bench/postgres_bench.py [--quick]

Every path does the same work: run the statement and map the row into the same frozen
dataclass (`User(*record)` on the raw paths, the cheapest mapping a hand-written service has).

Paths:
  raw default   asyncpg's pool as created by `create_pool` (resets every released connection)
  raw same      asyncpg's pool with our settings: the same command, statement and idle-in-
                transaction timeouts and statement cache, and no reset of a connection that
                did nothing
  raw+span      raw same, with the span ours records (same name, kind, attributes, provider)
                started and ended around each call: what the SDK alone costs in this setting
  ours          `Database.one(..., row=User)`: metrics on, tracing not sampled (each call runs
                inside a request span the sampler dropped, as 90% of requests at a 0.1 ratio).
                Under contention a query that ended cleanly hands its connection straight to
                the oldest waiting one, skipping asyncpg's release and acquire (see
                `Database._run`); with nobody waiting, it goes through the pool as raw does
  ours+spans    the same with every span recorded (SDK, batch processor, counting exporter),
                inside a sampled request span; each round ends with a flush of the processor,
                so that the exporter's work is counted in this path's CPU, not the next one's

Dirty mix (issue 14): one query in ten changes the session (`SELECT set_config('app.user_id',
$1, false)`, as a login that sets a user id for row-level security does), the others are the
select by id. PostgreSQL's parser marks that query dirty when it is loaded, so ours resets the
connection after it (and only after it); asyncpg's default pool resets after every query.
`raw same` has no place here: it would hand the next query a session with another's user id.

The span floor is the OpenTelemetry SDK's own CPU per span, measured apart: a loop that starts
and ends a span like ours (same name, kind and attributes, same provider, sampler and processor,
inside the same sampled parent) and does nothing else. It bounds the spans ratio from above:
even a layer that cost nothing over asyncpg's pool could not do better than raw / (raw +
floor). Between queries a span costs more than in that tight loop (colder caches, more live
objects): `raw+span` measures that in-situ cost; `raw+span / raw same` is the best spans ratio a
layer that adds nothing but spans to asyncpg's pool can reach here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON
from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from pydantic import SecretStr

from svcinfra.config import PostgresSettings
from svcinfra.postgres import Database, load_queries

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Sequence
    from datetime import datetime

    from opentelemetry.sdk.trace import ReadableSpan

    from svcinfra.postgres import Query

HOST, PORT, ADMIN = "127.0.0.1", 5432, "postgresql://postgres@127.0.0.1:5432/postgres"
TASKS, POOL, ROWS = 50, 10, 10_000
QUIET_TASKS = 8  # fewer than connections: no query ever waits

SELECT = """-- name: users__get_by_id :one
SELECT id, username, email, created_at FROM users WHERE id = $1
"""
INSERT = """-- name: users__create :one
INSERT INTO users (username, email) VALUES ($1, $2)
RETURNING id, username, email, created_at
"""
DIRTY = """-- name: users__login :exec
SELECT set_config('app.user_id', $1, false)
"""
DIRTY_EVERY = 10  # the dirty mix: one query in ten changes the session


@dataclass(frozen=True, slots=True)
class User:
    id: int
    username: str
    email: str
    created_at: datetime


class CountingExporter(SpanExporter):
    """Receives every recorded span and only counts them."""

    def __init__(self) -> None:
        self.count = 0
        self.last: dict[str, ReadableSpan] = {}  # by instrumentation scope

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        self.count += len(spans)
        for span in spans:
            if span.instrumentation_scope is not None:
                self.last[span.instrumentation_scope.name] = span
        return SpanExportResult.SUCCESS


@dataclass
class Result:
    ops: int
    seconds: float
    cpu: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.ops / self.seconds


def request_span(*, sampled: bool) -> context.Context:
    """A context holding an incoming request's span, sampled or not, as a service handler has."""
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    parent = SpanContext(0x1234, 0x5678, is_remote=True, trace_flags=flags)
    return trace.set_span_in_context(NonRecordingSpan(parent))


async def run(
    op: Callable[[int], Awaitable[Any]],
    seconds: float,
    *,
    sampled: bool = False,
    flush: Callable[[], object] | None = None,
    tasks: int = TASKS,
) -> Result:
    """Run `op` from `tasks` tasks for `seconds`; return throughput and per-call latencies.

    `flush`, when given, runs before the clocks stop (the span processor's pending exports).
    """
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    counter = iter(range(10**9))

    async def worker() -> None:
        context.attach(request_span(sampled=sampled))
        while time.perf_counter() < deadline:
            n = next(counter)
            start = time.perf_counter()
            await op(n)
            latencies.append(time.perf_counter() - start)

    start, cpu = time.perf_counter(), time.process_time()
    await asyncio.gather(*(worker() for _ in range(tasks)))
    if flush is not None:
        flush()
    return Result(len(latencies), time.perf_counter() - start, time.process_time() - cpu, latencies)


def span_floor(provider: TracerProvider, like: ReadableSpan, spans: int = 20_000) -> float:
    """CPU seconds per span of the SDK alone: start and end spans like `like`, nothing else."""
    tracer = provider.get_tracer("svcinfra.bench.floor")
    name, kind, attributes = like.name, like.kind, dict(like.attributes or {})
    token = context.attach(request_span(sampled=True))
    try:
        provider.force_flush()
        cpu = time.process_time()
        for _ in range(spans):
            tracer.start_span(name, kind=kind, attributes=attributes).end()
        provider.force_flush()
        return (time.process_time() - cpu) / spans
    finally:
        context.detach(token)


def queries_package(root: Path) -> None:
    """Write the bench's two queries as a service package would ship them, and import path it."""
    sql = root / "benchsvc" / "repository" / "postgres" / "users" / "sql"
    sql.mkdir(parents=True)
    (root / "benchsvc" / "__init__.py").write_text("")
    (sql / "get_by_id.sql").write_text(SELECT)
    (sql / "create.sql").write_text(INSERT)
    (sql / "login.sql").write_text(DIRTY)
    sys.path.insert(0, str(root))


async def no_reset(_con: object) -> None:
    """A pool reset hook that does nothing: the raw equivalent of our skipped reset."""


async def main(*, quick: bool) -> None:  # noqa: C901, PLR0915  (one linear script)
    seconds, rounds = (1.0, 2) if quick else (1.5, 7)
    name = f"svcinfra_bench_{os.getpid()}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = f"postgresql://postgres@{HOST}:{PORT}/{name}"
    setup = await asyncpg.connect(dsn)
    await setup.execute(
        "CREATE TABLE users (id bigserial PRIMARY KEY, username text NOT NULL UNIQUE,"
        " email text NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"
    )
    await setup.execute(
        "INSERT INTO users (username, email) SELECT 'u' || i, 'u' || i || '@x' "
        "FROM generate_series(1, $1::int) i",
        ROWS,
    )
    await setup.close()

    with tempfile.TemporaryDirectory() as tmp:
        queries_package(Path(tmp))
        queries = load_queries("benchsvc")
    get, create = queries.query("users__get_by_id"), queries.query("users__create")
    settings = PostgresSettings(
        host=HOST,
        port=PORT,
        user="postgres",
        password=SecretStr(""),
        db=name,
        sslmode="disable",
        pool_min_size=POOL,
        pool_max_size=POOL,
    )
    exporter = CountingExporter()
    sampled = TracerProvider(sampler=ALWAYS_ON)
    sampled.add_span_processor(BatchSpanProcessor(exporter, max_queue_size=100_000))
    raw_default = await asyncpg.create_pool(dsn, min_size=POOL, max_size=POOL)
    raw_same = await asyncpg.create_pool(
        dsn,
        min_size=POOL,
        max_size=POOL,
        command_timeout=settings.command_timeout,
        statement_cache_size=settings.statement_cache(),
        server_settings={
            "statement_timeout": str(round(settings.statement_timeout * 1000)),
            "idle_in_transaction_session_timeout": str(
                round(settings.idle_in_transaction_session_timeout * 1000)
            ),
        },
        reset=no_reset,
    )
    ours = await Database.connect(settings, tracer_provider=TracerProvider(sampler=ALWAYS_OFF))
    ours_spans = await Database.connect(settings, tracer_provider=sampled)
    tag = iter(range(10**9))

    def select_raw(pool: Any) -> Callable[[int], Awaitable[Any]]:  # noqa: ANN401  (untyped driver)
        async def op(n: int) -> User:
            return User(*await pool.fetchrow(get.sql, n % ROWS + 1))

        return op

    raw_tracer_name = "svcinfra.bench.raw"
    raw_tracer = sampled.get_tracer(raw_tracer_name)

    def with_span(
        query: Query, op: Callable[[int], Awaitable[Any]]
    ) -> Callable[[int], Awaitable[Any]]:
        """`op` inside the span our layer records for `query` (checked against it at the end)."""
        name, attributes = (
            f"DB {query.name}",
            {
                "db.system.name": "postgresql",
                "db.namespace": settings.db,
                "db.operation.name": query.verb,
                "db.query.summary": query.name,
            },
        )

        async def spanned(n: int) -> Any:  # noqa: ANN401  (whatever `op` returns)
            span = raw_tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes)
            try:
                return await op(n)
            finally:
                span.end()

        return spanned

    def select_ours(db: Database) -> Callable[[int], Awaitable[Any]]:
        return lambda n: db.one(get, n % ROWS + 1, row=User)

    def insert_raw(pool: Any) -> Callable[[int], Awaitable[Any]]:  # noqa: ANN401  (untyped driver)
        async def op(_n: int) -> User:
            return User(*await pool.fetchrow(create.sql, f"r{next(tag)}", "r@x"))

        return op

    def insert_ours(db: Database) -> Callable[[int], Awaitable[Any]]:
        return lambda _n: db.one(create, f"o{next(tag)}", "o@x", row=User)

    paths = ["raw default", "raw same", "raw+span", "ours", "ours+spans"]
    spanned = {"raw+span", "ours+spans"}
    workloads = {
        "select by id": [
            select_raw(raw_default),
            select_raw(raw_same),
            with_span(get, select_raw(raw_same)),
            select_ours(ours),
            select_ours(ours_spans),
        ],
        "insert returning": [
            insert_raw(raw_default),
            insert_raw(raw_same),
            with_span(create, insert_raw(raw_same)),
            insert_ours(ours),
            insert_ours(ours_spans),
        ],
    }
    results: dict[tuple[str, str], list[Result]] = {}
    floors: dict[str, float] = {}
    uncontended: dict[str, list[Result]] = {}
    try:
        for workload, ops in workloads.items():
            for path, op in zip(paths, ops, strict=True):  # warm-up: caches, mapping checks
                spans = path in spanned
                await run(op, 0.2, sampled=spans, flush=sampled.force_flush if spans else None)
            for round_ in range(rounds):
                # Rotate the order each round so that no path always runs first or last.
                order = [*range(round_ % len(paths), len(paths)), *range(round_ % len(paths))]
                for index in order:
                    path = paths[index]
                    spans = path in spanned
                    result = await run(
                        ops[index],
                        seconds,
                        sampled=spans,
                        flush=sampled.force_flush if spans else None,
                    )
                    results.setdefault((workload, path), []).append(result)
            ours_span, raw_span = exporter.last["svcinfra.postgres"], exporter.last[raw_tracer_name]
            if (ours_span.name, dict(ours_span.attributes or {})) != (
                raw_span.name,
                dict(raw_span.attributes or {}),
            ):
                print(
                    f"warning: raw+span does not record the span ours does: {ours_span.to_json()}"
                )
            floors[workload] = statistics.median(
                span_floor(sampled, ours_span) for _ in range(rounds)
            )
        quiet = {"raw same": select_raw(raw_same), "ours": select_ours(ours)}
        for round_ in range(rounds):
            for path in sorted(quiet, reverse=round_ % 2 == 1):
                result = await run(quiet[path], seconds, tasks=QUIET_TASKS)
                uncontended.setdefault(path, []).append(result)
        mix = await dirty_mix(
            raw_default, ours, get, queries.query("users__login"), rounds=rounds, seconds=seconds
        )
        pgbouncer = await pgbouncer_rows(settings, get, create, seconds=seconds, rounds=rounds)
    finally:
        await raw_default.close()
        await raw_same.close()
        await ours.close()
        await ours_spans.close()
        sampled.shutdown()
        admin = await asyncpg.connect(ADMIN)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()

    print(
        f"postgres: {TASKS} tasks, pool {POOL}, {rounds} rounds x {seconds}s per path, order"
        f" rotated; medians over rounds; spans exported: {exporter.count}"
    )
    header = (
        f"{'workload':<17}{'path':<13}{'ops/s':>9}{'cpu us/op':>11}"
        f"{'p50 ms':>9}{'p99 ms':>9}{'p99/p50':>9}"
    )
    print(header)
    print("-" * len(header))
    cpus: dict[tuple[str, str], float] = {}
    for (workload, path), runs in results.items():
        rate = statistics.median(r.rate for r in runs)
        cpu = cpus[workload, path] = sum(r.cpu for r in runs) / sum(r.ops for r in runs) * 1e6
        p50 = statistics.median(percentile(r.latencies, 0.50) for r in runs) * 1000
        p99 = statistics.median(percentile(r.latencies, 0.99) for r in runs) * 1000
        tail = statistics.median(
            percentile(r.latencies, 0.99) / percentile(r.latencies, 0.50) for r in runs
        )
        print(f"{workload:<17}{path:<13}{rate:>9.0f}{cpu:>11.1f}{p50:>9.2f}{p99:>9.2f}{tail:>9.1f}")
    print()
    print("throughput ratio: median of the rounds' paired ratios; cpu ratio: cpu/op bottom / top")
    print(f"{'ratio':<42}{'select':>8}{'(cpu)':>7}{'insert':>8}{'(cpu)':>7}  target")
    for label, top, bottom, target in (
        ("ours / raw same (metrics, not sampled)", "ours", "raw same", ">= 0.95"),
        ("ours+spans / raw same (every span)", "ours+spans", "raw same", ">= 0.85"),
        ("ours / raw default (as shipped)", "ours", "raw default", ">= 1.2"),
        ("raw+span / raw same (the SDK alone)", "raw+span", "raw same", ""),
        ("ours+spans / raw+span (same spans)", "ours+spans", "raw+span", ""),
    ):
        cells = []
        for workload in workloads:
            paired = statistics.median(
                a.rate / b.rate
                for a, b in zip(results[workload, top], results[workload, bottom], strict=True)
            )
            cells.append(f"{paired:>8.2f}{cpus[workload, bottom] / cpus[workload, top]:>7.2f}")
        print(f"{label:<42}{''.join(cells)}  {target}")
    print()
    print(f"{'span floor (SDK in a tight loop)':<42}{'select':>15}{'insert':>15}")
    for label, cell in (
        ("floor, cpu us/span", lambda w: floors[w] * 1e6),
        ("raw same / (raw same + floor) (cpu)", lambda w: ceiling(w, cpus, floors)),
        ("raw same / (ours+spans - floor) (cpu)", lambda w: net(w, cpus, floors)),
    ):
        print(f"{label:<42}{''.join(f'{cell(workload):>15.2f}' for workload in workloads)}")
    print()
    quiet_ratio = statistics.median(
        a.rate / b.rate for a, b in zip(uncontended["ours"], uncontended["raw same"], strict=True)
    )
    quiet_cpu = [
        sum(r.cpu for r in uncontended[path]) / sum(r.ops for r in uncontended[path]) * 1e6
        for path in ("raw same", "ours")
    ]
    print(
        f"select by id, {QUIET_TASKS} tasks (nobody waits, no hand-over): cpu us/op raw same"
        f" {quiet_cpu[0]:.1f}, ours {quiet_cpu[1]:.1f}; ours / raw same {quiet_ratio:.2f}"
        f" ({quiet_cpu[0] / quiet_cpu[1]:.2f} cpu)"
    )
    print_dirty_mix(mix)
    print_pgbouncer(pgbouncer)


async def dirty_mix(
    raw_default: Any,  # noqa: ANN401  (untyped driver)
    ours: Database,
    get: Query,
    dirty: Query,
    *,
    rounds: int,
    seconds: float,
) -> dict[str, list[Result]]:
    """The dirty mix: every tenth query sets a session-level GUC; ours vs asyncpg's default pool.

    Checks first that the parser marked the login query dirty, and prints how many resets ours
    ran (about one per dirty query: the proof that it resets after them, and only them).
    """
    if not dirty.session_effects or get.session_effects:
        raise SystemExit("the parser must mark the login query dirty and the select clean")

    async def raw_op(n: int) -> object:
        if n % DIRTY_EVERY == 0:
            return await raw_default.execute(dirty.sql, f"user{n}")
        return User(*await raw_default.fetchrow(get.sql, n % ROWS + 1))

    async def ours_op(n: int) -> object:
        if n % DIRTY_EVERY == 0:
            return await ours.exec(dirty, f"user{n}")
        return await ours.one(get, n % ROWS + 1, row=User)

    paths = {"raw default": raw_op, "ours": ours_op}
    for op in paths.values():  # warm-up
        await run(op, 0.2)
    results: dict[str, list[Result]] = {}
    resets = ours.resets
    for round_ in range(rounds):
        for path in sorted(paths, reverse=round_ % 2 == 1):
            results.setdefault(path, []).append(await run(paths[path], seconds))
    ours_dirty = sum(r.ops for r in results["ours"]) // DIRTY_EVERY
    print(f"dirty mix: ours reset {ours.resets - resets} times for ~{ours_dirty} dirty queries")
    return results


def print_dirty_mix(results: dict[str, list[Result]]) -> None:
    """The dirty mix's rows and its ratio to asyncpg's default pool (target >= 1.0)."""
    print()
    print(f"dirty mix: 1 query in {DIRTY_EVERY} sets a session GUC, the rest select by id")
    for path in ("raw default", "ours"):
        runs = results[path]
        rate = statistics.median(r.rate for r in runs)
        cpu = sum(r.cpu for r in runs) / sum(r.ops for r in runs) * 1e6
        p99 = statistics.median(percentile(r.latencies, 0.99) for r in runs) * 1000
        print(f"  {path:<13}{rate:>9.0f} ops/s{cpu:>9.1f} cpu us/op{p99:>8.2f} p99 ms")
    paired = statistics.median(
        a.rate / b.rate for a, b in zip(results["ours"], results["raw default"], strict=True)
    )
    print(f"  ours / raw default (dirty mix): {paired:.2f}  target >= 1.0")


# --- through pgbouncer (issue 14) -------------------------------------------------------------
# The same statements through the pgbouncer scripts/infra.sh starts (1.18, transaction pooling,
# default_pool_size 8 server sessions for all paths at once), plus a short transaction (BEGIN,
# the select, COMMIT), where ours sets the PG-5 timeouts with SET LOCAL in BEGIN's round trip.
# Raw asyncpg runs with what pgbouncer 1.18 needs: no startup parameters, statement_cache_size=0
# ("raw pgb default": otherwise as create_pool makes it; "raw pgb same": our command timeout and
# no reset of a connection that did nothing). Ours: `pooler="transaction"`.

PGBOUNCER_PORT = 6432
PGB_PATHS = ("raw pgb default", "raw pgb same", "ours pgb")


async def pgbouncer_rows(
    direct: PostgresSettings, get: Query, create: Query, *, seconds: float, rounds: int
) -> dict[tuple[str, str], list[Result]]:
    """Run select, insert and a short transaction through pgbouncer on every path, alternately."""
    settings = direct.model_copy(update={"port": PGBOUNCER_PORT, "pooler": "transaction"})
    dsn = f"postgresql://postgres@{HOST}:{PGBOUNCER_PORT}/{settings.db}"
    raw_default = await asyncpg.create_pool(
        dsn, min_size=POOL, max_size=POOL, statement_cache_size=0
    )
    raw_same = await asyncpg.create_pool(
        dsn,
        min_size=POOL,
        max_size=POOL,
        statement_cache_size=0,
        command_timeout=settings.command_timeout,
        reset=no_reset,
    )
    ours = await Database.connect(settings, tracer_provider=TracerProvider(sampler=ALWAYS_OFF))
    tag = iter(range(10**9))

    def raw(pool: Any) -> dict[str, Callable[[int], Awaitable[Any]]]:  # noqa: ANN401  (driver)
        async def select(n: int) -> User:
            return User(*await pool.fetchrow(get.sql, n % ROWS + 1))

        async def insert(_n: int) -> User:
            return User(*await pool.fetchrow(create.sql, f"p{next(tag)}", "p@x"))

        async def transaction(n: int) -> User:
            async with pool.acquire() as con, con.transaction():
                return User(*await con.fetchrow(get.sql, n % ROWS + 1))

        return {"select by id": select, "insert returning": insert, "transaction": transaction}

    async def transaction_ours(n: int) -> User:
        async with ours.transaction() as tx:
            return await tx.one(get, n % ROWS + 1, row=User)

    ops = {
        "raw pgb default": raw(raw_default),
        "raw pgb same": raw(raw_same),
        "ours pgb": {
            "select by id": lambda n: ours.one(get, n % ROWS + 1, row=User),
            "insert returning": lambda _n: ours.one(create, f"q{next(tag)}", "q@x", row=User),
            "transaction": transaction_ours,
        },
    }
    results: dict[tuple[str, str], list[Result]] = {}
    try:
        for workload in ("select by id", "insert returning", "transaction"):
            for path in PGB_PATHS:
                await run(ops[path][workload], 0.2)
            for round_ in range(rounds):
                shift = round_ % len(PGB_PATHS)
                for path in (*PGB_PATHS[shift:], *PGB_PATHS[:shift]):
                    result = await run(ops[path][workload], seconds)
                    results.setdefault((workload, path), []).append(result)
    finally:
        await raw_default.close()
        await raw_same.close()
        await ours.close()
    return results


def print_pgbouncer(results: dict[tuple[str, str], list[Result]]) -> None:
    """Print the pgbouncer rows and the ours / raw ratios (target: ours / raw same >= 0.95)."""
    print()
    print(f"through pgbouncer {PGBOUNCER_PORT} (transaction pooling), {TASKS} tasks, pool {POOL}")
    header = f"{'workload':<17}{'path':<16}{'ops/s':>9}{'cpu us/op':>11}{'p50 ms':>9}{'p99 ms':>9}"
    print(header)
    print("-" * len(header))
    for (workload, path), runs in results.items():
        rate = statistics.median(r.rate for r in runs)
        cpu = sum(r.cpu for r in runs) / sum(r.ops for r in runs) * 1e6
        p50 = statistics.median(percentile(r.latencies, 0.50) for r in runs) * 1000
        p99 = statistics.median(percentile(r.latencies, 0.99) for r in runs) * 1000
        print(f"{workload:<17}{path:<16}{rate:>9.0f}{cpu:>11.1f}{p50:>9.2f}{p99:>9.2f}")
    workloads = list(dict.fromkeys(w for w, _ in results))
    print(f"{'ratio (paired, median)':<34}{''.join(f'{w:>18}' for w in workloads)}  target")
    for label, bottom, target in (
        ("ours pgb / raw pgb same", "raw pgb same", ">= 0.95"),
        ("ours pgb / raw pgb default", "raw pgb default", ""),
    ):
        cells = [
            statistics.median(
                a.rate / b.rate
                for a, b in zip(results[w, "ours pgb"], results[w, bottom], strict=True)
            )
            for w in workloads
        ]
        print(f"{label:<34}{''.join(f'{c:>18.2f}' for c in cells)}  {target}")


def ceiling(workload: str, cpus: dict[tuple[str, str], float], floors: dict[str, float]) -> float:
    """The best cpu ratio to raw same that a layer costing nothing but the spans could reach."""
    raw = cpus[workload, "raw same"]
    return raw / (raw + floors[workload] * 1e6)


def net(workload: str, cpus: dict[tuple[str, str], float], floors: dict[str, float]) -> float:
    """The spans path's cpu ratio to raw same once the SDK's floor is taken out."""
    return cpus[workload, "raw same"] / (cpus[workload, "ours+spans"] - floors[workload] * 1e6)


def percentile(values: list[float], share: float) -> float:
    """The value below which `share` of `values` fall."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s rounds, 2 rounds per path")
    asyncio.run(main(quick=parser.parse_args().quick))
