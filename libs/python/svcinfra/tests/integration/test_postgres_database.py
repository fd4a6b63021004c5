"""`Database` against the real server: queries, mapping, templates, transactions, session resets,
metrics and spans (PG-5, PG-6, PG-8, PG-10, PG-11)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from svcinfra.postgres import (
    Conflict,
    Database,
    NotFound,
    ProgrammingError,
    Queries,
    QueryKindMismatch,
    RowMappingError,
    Transaction,
    TransactionAborted,
    TransactionConflict,
)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = [pytest.mark.postgres, pytest.mark.postgres_routes]

ASSETS = Path(__file__).parents[1] / "assets" / "queries"
sys.path.insert(0, str(ASSETS))  # the fixture service package and its kit

from pgkit import User, create_schema, good_queries  # noqa: E402  (needs the path above)


@pytest.fixture(name="queries", scope="module")
def _queries() -> Queries:
    return good_queries()


@pytest.fixture(name="schema")
async def _schema(postgres_db):
    await create_schema(postgres_db.dsn)
    return postgres_db


@pytest.fixture(name="spans")
def _spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(name="db")
async def _db(schema, spans: InMemorySpanExporter) -> AsyncIterator[Database]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    db = await Database.connect(schema.settings(), tracer_provider=provider)
    yield db
    await db.close()


async def _create(db: Database, queries: Queries, username: str, team: int | None = None) -> User:
    create = queries.query("users__create")
    return await db.one(create, team, username, f"{username}@example.com", "active", row=User)


async def test_one_optional_many_exec_execrows(db: Database, queries: Queries) -> None:
    """Each method runs its kind of query and maps rows into the dataclass by column name."""
    await db.exec(queries.query("teams__create"), 1, "core")
    ann = await _create(db, queries, "ann", 1)
    bob = await _create(db, queries, "bob", 1)
    get = queries.query("users__get_by_id")

    assert await db.one(get, ann.id, row=User) == ann
    assert await db.optional(get, -1, row=User) is None
    assert await db.many(queries.query("users__list"), row=User) == [ann, bob]
    assert await db.execrows(queries.query("users__block_team"), 1) == 2
    assert await db.execrows(queries.query("users__block_team"), 1) == 0
    assert await db.one(queries.query("users__count"), row=int) == 2


async def test_one_without_a_row_is_not_found(db: Database, queries: Queries) -> None:
    """`one` on an empty result raises NotFound naming the query; it is a result, not an error
    metric."""
    with pytest.raises(NotFound, match="users__get_by_id: no row") as caught:
        await db.one(queries.query("users__get_by_id"), 404, row=User)
    assert caught.value.query == "users__get_by_id"
    labels = {"query": "users__get_by_id", "error": "NotFound"}
    assert REGISTRY.get_sample_value("svcinfra_db_query_errors_total", labels) is None


async def test_many_without_rows_is_empty(db: Database, queries: Queries) -> None:
    """`many` on an empty result returns an empty list."""
    assert await db.many(queries.query("users__list"), row=User) == []


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("users__get_with_extra", "column(s) ['extra'] have no field in User"),
        ("users__get_partial", "field(s) ['team_id', 'email', 'status', 'created_at'] of User"),
    ],
    ids=["extra-column", "missing-columns"],
)
async def test_mapping_is_strict(db: Database, queries: Queries, name: str, fragment: str) -> None:
    """A result with an extra column or missing fields raises RowMappingError naming both sides."""
    user = await _create(db, queries, "cat")
    with pytest.raises(RowMappingError) as caught:
        await db.one(queries.query(name), user.id, row=User)
    assert fragment in str(caught.value)


@pytest.mark.parametrize(
    ("method", "name"),
    [("many", "users__get_by_id"), ("one", "users__list"), ("exec", "users__block_team")],
    ids=["many-on-one", "one-on-many", "exec-on-execrows"],
)
async def test_method_must_match_the_header(
    db: Database, queries: Queries, method: str, name: str
) -> None:
    """Running a query with a method its annotation does not allow fails before the server."""
    query = queries.query(name)
    call = db.exec(query, 1) if method == "exec" else getattr(db, method)(query, 1, row=User)
    with pytest.raises(QueryKindMismatch, match=f"{name} is a"):
        await call


async def test_search_template_filters_sorts_and_pages(db: Database, queries: Queries) -> None:
    """The search template pages through users by keyset, with optional filters and any sort."""
    await db.exec(queries.query("teams__create"), 1, "core")
    names = ["dan", "eve", "ann", "cid", "bob"]
    for name in names:
        await _create(db, queries, name, 1 if name != "eve" else None)
    search = queries.template("users__search")
    base = {"status": None, "team_id": None, "name_prefix": None, "limit": 2}

    seen: list[str] = []
    after: dict[str, object] = {"after_id": None, "after_key": None}
    while True:
        query, args = search.render(**base, **after, sort="username", direction="desc")
        page = await db.many(query, *args, row=User)
        if not page:
            break
        seen.extend(user.username for user in page)
        after = {"after_id": page[-1].id, "after_key": page[-1].username}
    assert seen == sorted(names, reverse=True)

    query, args = search.render(
        **base | {"team_id": 1, "name_prefix": "c", "limit": 10},
        after_id=None,
        after_key=None,
        sort="created",
        direction="asc",
    )
    assert [user.username for user in await db.many(query, *args, row=User)] == ["cid"]


async def test_transaction_commits_and_rolls_back(db: Database, queries: Queries) -> None:
    """A transaction commits when its block ends and rolls everything back on an exception."""
    async with db.transaction() as tx:
        await tx.exec(queries.query("teams__create"), 1, "core")
        await tx.one(queries.query("users__create"), 1, "ann", "a@x", "active", row=User)

    class BoomError(Exception):
        pass

    async def fail_half_way() -> None:
        async with db.transaction(isolation="repeatable_read") as tx:
            await tx.one(queries.query("users__create"), 1, "bob", "b@x", "active", row=User)
            raise BoomError

    with pytest.raises(BoomError):
        await fail_half_way()
    assert await db.one(queries.query("users__count"), row=int) == 1
    with pytest.raises(ProgrammingError, match="already finished"):
        await tx.one(queries.query("users__count"), row=int)  # the committed one


async def test_a_caught_statement_error_makes_the_commit_raise(
    db: Database, queries: Queries
) -> None:
    """A statement fails inside a transaction and the caller catches its error and goes on:
    PostgreSQL answers the COMMIT with ROLLBACK (no error of its own); that answer raises
    TransactionAborted instead of passing for a commit, and nothing of the block is kept."""
    async with db.transaction() as tx:
        await tx.exec(queries.query("teams__create"), 1, "core")

    async def carry_on_after_an_error() -> None:
        async with db.transaction() as tx:
            await tx.one(queries.query("users__create"), 1, "ann", "a@x", "active", row=User)
            with pytest.raises(Conflict):
                await tx.exec(queries.query("teams__create"), 1, "core")  # a duplicate key

    with pytest.raises(TransactionAborted, match="rolled back, not committed"):
        await carry_on_after_an_error()
    assert await db.one(queries.query("users__count"), row=int) == 0
    async with db.transaction() as tx:  # the connection went back clean: the next one commits
        await tx.one(queries.query("users__create"), 1, "ann", "a@x", "active", row=User)
    assert await db.one(queries.query("users__count"), row=int) == 1


async def test_after_commit_callbacks_run_only_once_the_commit_succeeded(
    db: Database, queries: Queries
) -> None:
    """`Transaction.after_commit`: in order, after COMMIT (the row is visible to another
    connection by then); never on a rollback nor on a COMMIT answered ROLLBACK; a callback that
    raises is logged and neither undoes the commit nor stops the next one."""
    order: list[str] = []
    seen: dict[str, int] = {}
    count = queries.query("users__count")

    def visible(label: str) -> None:  # what a fresh connection sees when the callback runs
        order.append(label)
        task = asyncio.get_running_loop().create_task(db.one(count, row=int))
        task.add_done_callback(lambda t: seen.setdefault(label, t.result()))

    with capture_logs() as logs:
        async with db.transaction() as tx:
            await tx.exec(queries.query("teams__create"), 1, "core")
            await tx.one(queries.query("users__create"), 1, "ann", "a@x", "active", row=User)
            tx.after_commit(lambda: visible("first"))
            tx.after_commit(lambda: 1 / 0)  # raises: logged, the commit stands
            tx.after_commit(lambda: visible("third"))
            await asyncio.sleep(0.05)
            assert order == []  # nothing before the commit
    assert order == ["first", "third"]  # in order, before the block's exit returned
    for _ in range(100):
        if len(seen) == 2:
            break
        await asyncio.sleep(0.01)
    assert seen == {"first": 1, "third": 1}
    assert [entry["event"] for entry in logs if "after-commit" in entry["event"]] == [
        "an after-commit callback failed"
    ]

    ran: list[str] = []

    async def roll_back() -> None:
        async with db.transaction() as tx:
            await tx.one(queries.query("users__create"), 1, "bob", "b@x", "active", row=User)
            tx.after_commit(lambda: ran.append("rolled back"))
            raise RuntimeError("the block fails")

    async def commit_answered_rollback() -> None:
        async with db.transaction() as tx:
            tx.after_commit(lambda: ran.append("aborted"))
            with pytest.raises(Conflict):
                await tx.exec(queries.query("teams__create"), 1, "core")

    with pytest.raises(RuntimeError):
        await roll_back()
    with pytest.raises(TransactionAborted):
        await commit_answered_rollback()
    assert ran == []
    assert await db.one(count, row=int) == 1
    with pytest.raises(ProgrammingError, match="already finished"):
        tx.after_commit(lambda: ran.append("late"))


async def test_serialization_failure_is_retried_to_success(db: Database, queries: Queries) -> None:
    """Two serializable increments collide for real (40001); the loser is re-run and both count."""
    get, put = queries.query("counters__get"), queries.query("counters__set")
    retried = {"sqlstate": "40001"}
    retries_before = REGISTRY.get_sample_value("svcinfra_db_transaction_retries_total", retried)
    both_read = asyncio.Barrier(2)
    attempts: list[int] = []

    async def increment(tx: Transaction) -> int:
        value = await tx.one(get, 1, row=int)
        attempts.append(value)
        if len(attempts) <= 2:
            await both_read.wait()
        await tx.exec(put, 1, value + 1)
        return value + 1

    results = await asyncio.gather(
        db.run_transaction(increment, backoff=0.001),
        db.run_transaction(increment, backoff=0.001),
    )
    assert sorted(results) == [1, 2]
    assert len(attempts) == 3
    assert await db.one(get, 1, row=int) == 2
    retries = REGISTRY.get_sample_value("svcinfra_db_transaction_retries_total", retried)
    assert retries == (retries_before or 0) + 1


async def test_retry_gives_up_after_its_attempts(db: Database, queries: Queries) -> None:
    """When every attempt conflicts, the last TransactionConflict is raised."""
    calls = 0

    async def always_conflicts(tx: Transaction) -> None:
        nonlocal calls
        calls += 1
        await tx.one(queries.query("counters__get"), 1, row=int)
        raise TransactionConflict("conflict", sqlstate="40001")

    with pytest.raises(TransactionConflict):
        await db.run_transaction(always_conflicts, attempts=3, backoff=0.001)
    assert calls == 3


async def _last_statement(admin_dsn: str, pid: int) -> str:
    con = await asyncpg.connect(admin_dsn)
    try:
        return await con.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
    finally:
        await con.close()


async def test_clean_connections_skip_the_reset(
    schema,
    queries: Queries,
    postgres_server: str,
) -> None:
    """After queries without session effects, the connection goes back without a reset query."""
    db = await Database.connect(schema.settings(pool_min_size=1, pool_max_size=1))
    try:
        pid = await db.one(queries.query("session__pid"), row=int)
        await db.one(queries.query("users__count"), row=int)
        assert await _last_statement(postgres_server, pid) == queries.query("users__count").sql
        assert db.resets == 0
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("dirty", "check"),
    [
        ("session__set_name", "app_name"),
        ("session__lock", "advisory"),
        ("session__listen", "listening"),
    ],
    ids=["set", "advisory-lock", "listen"],
)
async def test_session_effects_are_reset_on_release(
    schema,
    queries: Queries,
    postgres_server: str,
    dirty: str,
    check: str,
) -> None:
    """SET, a session advisory lock or LISTEN is undone before the connection is lent again."""
    db = await Database.connect(schema.settings(pool_min_size=1, pool_max_size=1))
    try:
        pid = await db.one(queries.query("session__pid"), row=int)
        query = queries.query(dirty)
        await (db.exec(query, 42) if query.parameters else db.exec(query))
        assert "RESET ALL" in await _last_statement(postgres_server, pid)
        assert db.resets == 1
        assert await db.one(queries.query("session__pid"), row=int) == pid
        if check == "app_name":
            assert await db.one(queries.query("session__app_name"), row=str) != "svcinfra_dirty"
        elif check == "listening":
            assert await db.many(queries.query("session__listening"), row=str) == []
        else:
            admin = await asyncpg.connect(postgres_server)
            try:
                held = await admin.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1", pid
                )
            finally:
                await admin.close()
            assert held == 0
    finally:
        await db.close()


async def test_metrics_and_spans(
    db: Database, queries: Queries, spans: InMemorySpanExporter
) -> None:
    """Each query is timed by name, errors are counted by class, and a span named after it ends."""
    get = queries.query("users__get_by_id")
    labels = {"query": "users__create"}
    before = REGISTRY.get_sample_value("svcinfra_db_query_duration_seconds_count", labels) or 0
    conflicts = {"query": "users__create", "error": "Conflict"}
    errors_before = REGISTRY.get_sample_value("svcinfra_db_query_errors_total", conflicts) or 0
    user = await _create(db, queries, "secret-name")
    with pytest.raises(Exception, match="unique"):
        await _create(db, queries, "secret-name")
    await db.one(get, user.id, row=User)

    assert (
        REGISTRY.get_sample_value("svcinfra_db_query_duration_seconds_count", labels) == before + 2
    )
    assert (
        REGISTRY.get_sample_value("svcinfra_db_query_errors_total", conflicts) == errors_before + 1
    )
    assert (
        REGISTRY.get_sample_value(
            "svcinfra_db_query_duration_seconds_bucket", {"query": "users__create", "le": "0.0005"}
        )
        is not None
    )
    pool = {"db": db.namespace}
    assert REGISTRY.get_sample_value("svcinfra_db_pool_size", pool) >= 1
    assert REGISTRY.get_sample_value("svcinfra_db_pool_waiting", pool) == 0

    finished = spans.get_finished_spans()
    assert [span.name for span in finished] == [
        "DB users__create",
        "DB users__create",
        "DB users__get_by_id",
    ]
    attributes = dict(finished[2].attributes or {})
    assert attributes["db.system.name"] == "postgresql"
    assert attributes["db.namespace"] == db.namespace
    assert attributes["db.operation.name"] == "SELECT"
    assert finished[1].attributes["error.type"] == "Conflict"
    assert finished[1].attributes["db.response.status_code"] == "23505"
    for span in finished:
        assert not any("secret-name" in str(value) for value in (span.attributes or {}).values())


@pytest.mark.parametrize("sampled", [True, False], ids=["sampled-parent", "unsampled-parent"])
async def test_span_follows_the_parent_sampling(
    db: Database,
    queries: Queries,
    spans: InMemorySpanExporter,
    sampled: bool,  # noqa: FBT001  (parametrized)
) -> None:
    """Inside a sampled request span the query span is its child; inside a dropped one, none."""
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    parent = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=flags)
    token = context.attach(trace.set_span_in_context(NonRecordingSpan(parent)))
    try:
        await db.one(queries.query("users__count"), row=int)
    finally:
        context.detach(token)
    finished = spans.get_finished_spans()
    if sampled:
        (span,) = finished
        assert span.name == "DB users__count"
        assert span.parent is not None
        assert (span.context.trace_id, span.parent.span_id) == (0xABC, 0xDEF)
    else:
        assert finished == ()


async def test_works_without_a_statement_cache(schema, queries: Queries) -> None:
    """With statement_cache_size=0 (pgbouncer in transaction mode) queries still run and map."""
    db = await Database.connect(schema.settings(statement_cache_size=0))
    try:
        for _ in range(3):
            assert await db.one(queries.query("users__count"), row=int) == 0
        assert await db.optional(queries.query("users__get_by_id"), 1, row=User) is None
    finally:
        await db.close()


async def test_ping_answers(db: Database) -> None:
    """The readiness check passes against a live server."""
    await db.ping(timeout=2)
