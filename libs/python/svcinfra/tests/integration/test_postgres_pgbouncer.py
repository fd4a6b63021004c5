"""Behind pgbouncer in transaction mode: what a service and `svcinfra migrate` do (issue 14, PG-5).

The pgbouncer is the one `scripts/infra.sh` starts (1.18, pool_mode=transaction, a `*` wildcard
database, no ignore_startup_parameters). The Database tests of `test_postgres_database.py` and
`test_postgres_failures.py` also run through it (their `[pgbouncer]` ids); these are the cases
only a pooler has: a startup parameter refused, timeouts that must hold on server sessions the
client does not own, and migrations, whose session lock a transaction pooler cannot keep.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import pytest
from click.testing import CliRunner

from svcinfra.__main__ import main
from svcinfra.postgres import Database, Queries, TemporarilyUnavailable, Timeout
from svcinfra.postgres.migrate import Migrator, PoolerError, load_migrations
from svcinfra.testing.pytest_plugin import PGBOUNCER_PORT, PostgresDatabase

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.parametrize("postgres_route", ["pgbouncer"], indirect=True),
]

ASSETS = Path(__file__).parents[1] / "assets"
GOOSE_STYLE = ASSETS / "migrations" / "goose_style"
sys.path.insert(0, str(ASSETS / "queries"))  # the fixture service package and its kit

from pgkit import create_schema, good_queries  # noqa: E402  (needs the path above)


@pytest.fixture(name="queries", scope="module")
def _queries() -> Queries:
    return good_queries()


@pytest.fixture(name="schema")
async def _schema(postgres_db: PostgresDatabase) -> PostgresDatabase:
    await create_schema(postgres_db.dsn)
    return postgres_db


@dataclass(frozen=True, slots=True)
class Timeouts:
    statement_timeout: str
    idle_in_transaction_session_timeout: str


NO_TIMEOUTS = Timeouts("0", "0")
SLEEPING = ("active", "%pg_sleep%")
IDLE_IN_TRANSACTION = ("idle in transaction%", "%")


async def _server_sessions(db: PostgresDatabase, match: tuple[str, str]) -> list[str]:
    """Queries of the server sessions of `db` whose state and query match, read from the server."""
    admin = await asyncpg.connect(db.dsn)
    try:
        rows = await admin.fetch(
            "SELECT query FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()"
            " AND state LIKE $2 AND query LIKE $3",
            db.name,
            *match,
        )
    finally:
        await admin.close()
    return [row["query"] for row in rows]


async def _until_none(db: PostgresDatabase, match: tuple[str, str], *, within: float) -> list[str]:
    """Poll the server until no session matches; return what still matched after `within` s."""
    deadline = time.monotonic() + within
    # Polling the server's view: there is no event to wait on.
    while (left := await _server_sessions(db, match)) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return left


async def test_startup_timeouts_are_refused_without_the_pooler_setting(schema) -> None:
    """The reproduction: timeouts sent as startup parameters make pgbouncer refuse the session;
    the error names the setting that fixes it."""
    with pytest.raises(TemporarilyUnavailable) as caught:
        await Database.connect(schema.settings(pooler="none"))
    message = str(caught.value)
    assert "unsupported startup parameter: statement_timeout" in message
    assert "POSTGRES_POOLER=transaction" in message


PRIVATE_PORTS = range(16200, 16300)  # this suite's range for servers it starts itself


def _free_port() -> int:
    for port in PRIVATE_PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free port in {PRIVATE_PORTS}")


@pytest.fixture
def lenient_pgbouncer() -> Iterator[int]:
    """A private pgbouncer that ignores the timeout startup parameters (a common set-up), on a
    port of this suite's range; stopped and removed afterwards."""
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not os.access(binary, os.X_OK):
        pytest.fail("pgbouncer is not installed; `scripts/infra.sh up` as root installs it")
    root = Path(tempfile.mkdtemp(prefix="svcinfra-pgbouncer-"))
    port = _free_port()
    (root / "users.txt").write_text('"postgres" ""\n')
    (root / "pgbouncer.ini").write_text(
        f"[databases]\n* = host=127.0.0.1 port=5432\n[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {root}/users.txt\npool_mode = transaction\n"
        f"default_pool_size = 2\nlogfile = {root}/pgbouncer.log\n"
        "ignore_startup_parameters = statement_timeout,idle_in_transaction_session_timeout\n"
    )
    command = [binary, "-q", str(root / "pgbouncer.ini")]
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        root.chmod(0o755)
        shutil.chown(root, "postgres")
        command[1:1] = ["-u", "postgres"]
    process = subprocess.Popen(command)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    log = (
                        (root / "pgbouncer.log").read_text()
                        if (root / "pgbouncer.log").exists()
                        else ""
                    )
                    pytest.fail(f"private pgbouncer did not start: {log}")
                time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


async def test_ignored_startup_timeouts_apply_only_with_the_pooler_setting(
    schema, queries: Queries, lenient_pgbouncer: int
) -> None:
    """The other half of the reproduction: a pgbouncer that ignores the startup parameters lets
    the service start with POSTGRES_POOLER=none, but no timeout applies (a pg_sleep runs on);
    with POSTGRES_POOLER=transaction the same pgbouncer enforces them."""
    silent = await Database.connect(
        schema.settings(port=lenient_pgbouncer, pooler="none", statement_cache_size=0)
    )
    try:
        async with silent.transaction() as tx:
            assert await tx.one(queries.query("session__timeouts"), row=Timeouts) == NO_TIMEOUTS
    finally:
        await silent.close()
    enforced = await Database.connect(
        schema.settings(port=lenient_pgbouncer, statement_timeout=0.3, command_timeout=30)
    )
    try:
        async with enforced.transaction() as tx:
            timeouts = await tx.one(queries.query("session__timeouts"), row=Timeouts)
        assert timeouts == Timeouts("300ms", "30s")
        with pytest.raises(Timeout):
            await enforced.exec(queries.query("users__sleep"), 5.0)
    finally:
        await enforced.close()


async def test_statement_past_the_timeout_is_cancelled_on_the_server(
    schema, queries: Queries
) -> None:
    """A pg_sleep outside a transaction past statement_timeout raises Timeout, and the server
    session that ran it stops (the client's cancel request, forwarded by pgbouncer)."""
    db = await Database.connect(schema.settings(statement_timeout=0.3, pool_max_size=1))
    try:
        with pytest.raises(Timeout):
            await db.exec(queries.query("users__sleep"), 5.0)
        assert await _until_none(schema, SLEEPING, within=2) == []
        assert await db.one(queries.query("users__count"), row=int) == 0
    finally:
        await db.close()


async def test_statement_in_a_transaction_is_cancelled_by_the_server(
    schema, queries: Queries
) -> None:
    """Inside a transaction the server itself cancels the statement (SET LOCAL at BEGIN: 57014)."""
    db = await Database.connect(
        schema.settings(statement_timeout=0.3, command_timeout=30, pool_max_size=1)
    )
    try:
        with pytest.raises(Timeout) as caught:
            async with db.transaction() as tx:
                await tx.exec(queries.query("users__sleep"), 5.0)
        assert caught.value.sqlstate == "57014"
        assert await _server_sessions(schema, SLEEPING) == []
    finally:
        await db.close()


async def test_role_default_lets_the_server_cancel_single_statements(
    schema, queries: Queries
) -> None:
    """With the role default docs/pgbouncer.md describes (`ALTER ROLE ... IN DATABASE ... SET
    statement_timeout`), the server itself cancels a statement outside a transaction (57014),
    before the client's cancel would."""
    admin = await asyncpg.connect(schema.dsn)
    try:
        await admin.execute(
            f'ALTER ROLE postgres IN DATABASE "{schema.name}" SET statement_timeout = 300'
        )
    finally:
        await admin.close()
    db = await Database.connect(schema.settings(statement_timeout=0.3, pool_max_size=1))
    try:
        with pytest.raises(Timeout) as caught:
            await db.exec(queries.query("users__sleep"), 5.0)
        assert caught.value.sqlstate == "57014"
    finally:
        await db.close()


async def test_idle_transaction_is_ended_by_the_server(schema, queries: Queries) -> None:
    """A transaction left idle past idle_in_transaction_session_timeout is ended by the server:
    no server session stays idle in transaction, and the service recovers (PG-5, PG-12)."""
    db = await Database.connect(schema.settings(idle_in_transaction_session_timeout=0.2))

    async def idle_in_transaction() -> None:
        async with db.transaction() as tx:
            await tx.one(queries.query("users__count"), row=int)
            await asyncio.sleep(1.0)  # e.g. a network call inside the transaction: PG-12
            await tx.one(queries.query("users__count"), row=int)

    try:
        with pytest.raises(TemporarilyUnavailable):
            await idle_in_transaction()
        assert await _server_sessions(schema, IDLE_IN_TRANSACTION) == []
        assert await db.one(queries.query("users__count"), row=int) == 0
    finally:
        await db.close()


async def test_queries_mix_across_server_sessions(schema, queries: Queries) -> None:
    """Many queries at once on several client connections, which pgbouncer spreads over its
    server sessions: no named prepared statement (pgbouncer 1.18 does not track them), no error."""
    settings = schema.settings(pool_max_size=4)
    assert settings.statement_cache() == 0
    db = await Database.connect(settings)
    try:
        counts = await asyncio.gather(
            *(db.one(queries.query("users__count"), row=int) for _ in range(200))
        )
        assert counts == [0] * 200
    finally:
        await db.close()


async def _version_table_exists(db: PostgresDatabase) -> bool:
    admin = await asyncpg.connect(db.dsn)
    try:
        return bool(await admin.fetchval("SELECT to_regclass('goose_db_version') IS NOT NULL"))
    finally:
        await admin.close()


async def test_migrate_through_pgbouncer_is_refused(postgres_db: PostgresDatabase) -> None:
    """Migrations through the pooler are refused before anything runs: goose's session lock does
    not survive transaction pooling; the error says to use a direct connection."""
    migrations = load_migrations(GOOSE_STYLE)
    with pytest.raises(PoolerError, match="direct connection"):
        await Migrator(migrations, postgres_db.service_dsn).up()
    with pytest.raises(PoolerError, match="POSTGRES_POOLER=transaction"):
        await Migrator.from_settings(migrations, postgres_db.settings()).up()
    assert not await _version_table_exists(postgres_db)
    assert await Migrator(migrations, postgres_db.dsn).up()  # direct, the same files apply


async def test_migrate_cli_through_pgbouncer_exits_with_the_reason(
    postgres_db: PostgresDatabase,
) -> None:
    """`svcinfra migrate up` pointed at pgbouncer exits non-zero naming the pooler, applying
    nothing."""
    env = {
        "GOOSE_DBSTRING": (
            f"host=127.0.0.1 port={PGBOUNCER_PORT} user=postgres dbname={postgres_db.name}"
        ),
        "GOOSE_MIGRATION_DIR": str(GOOSE_STYLE),
        "SVCINFRA_TEST_USERS_COMMENT": "from the cli",
    }
    result = await asyncio.to_thread(CliRunner().invoke, main, ["migrate", "up"], env=env)
    assert result.exit_code != 0
    assert "is a connection pooler" in result.output
    assert not await _version_table_exists(postgres_db)
