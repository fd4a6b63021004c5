"""The pytest plugin of svcinfra: a run id, and the real servers on loopback, as fixtures.

Loaded with `-p svcinfra.testing.pytest_plugin` (the root pyproject's pytest `addopts`), so the
tests of the library and of every service get the same fixtures without copying them. Tests that
need a server fail loudly when it is down, with the command that starts it; they never skip.
Every test run names its databases, keys and queues after `run_id`, so runs cannot collide.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pytest
from pydantic import SecretStr

from svcinfra.config import PostgresSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

PG_HOST, PG_PORT = "127.0.0.1", 5432
REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
AMQP_HOST, AMQP_PORT = "127.0.0.1", 5672
START_HINT = "start it with `scripts/infra.sh up` (or `make infra`)"


def _require_server(name: str, host: str, port: int) -> None:
    try:
        with socket.create_connection((host, port), timeout=2):
            return
    except OSError as exc:
        pytest.fail(
            f"{name} is not reachable on {host}:{port} ({exc}); {START_HINT}", pytrace=False
        )


@pytest.fixture(scope="session")
def run_id() -> str:
    """A short id unique to this test run, for database, key and queue names."""
    return f"t{os.getpid()}{secrets.token_hex(3)}"


@dataclass(frozen=True, slots=True)
class PostgresDatabase:
    """A database created for one test, dropped after it."""

    name: str
    host: str = PG_HOST
    port: int = PG_PORT
    user: str = "postgres"
    route: str = "direct"

    @property
    def dsn(self) -> str:
        """The libpq URL of the database on the server itself (trust auth: no password).

        Direct whatever the route: schema set-up, migrations and admin checks never go through
        the pooler (see `svcinfra migrate` behind one, docs/pgbouncer.md).
        """
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.name}"

    @property
    def service_port(self) -> int:
        """The port a service reaches the database on: the server's, or pgbouncer's."""
        return PGBOUNCER_PORT if self.route == "pgbouncer" else self.port

    @property
    def service_dsn(self) -> str:
        """The libpq URL a service uses on this route (pgbouncer's port for "pgbouncer")."""
        return f"postgresql://{self.user}@{self.host}:{self.service_port}/{self.name}"

    def settings(self, **overrides: object) -> PostgresSettings:
        """`PostgresSettings` for this database on its route: a small pool, no TLS.

        Through pgbouncer they say `pooler="transaction"` (no startup parameters, timeouts set
        per transaction, no named prepared statements: pgbouncer 1.18).
        """
        values: dict[str, object] = {
            "host": self.host,
            "port": self.service_port,
            "pooler": "transaction" if self.route == "pgbouncer" else "none",
            "user": self.user,
            "password": SecretStr(""),  # trust auth on the loopback server
            "db": self.name,
            "sslmode": "disable",
            "pool_min_size": 1,
            "pool_max_size": 4,
            "connect_timeout": 2.0,
        }
        return PostgresSettings.model_validate(values | overrides)


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin DSN of the PostgreSQL server; fails the test when the server is down."""
    _require_server("PostgreSQL", PG_HOST, PG_PORT)
    return f"postgresql://postgres@{PG_HOST}:{PG_PORT}/postgres"


# --- the route to PostgreSQL: direct, or through pgbouncer (issue 14) ---------------------------
# Modules marked `postgres_routes` run each test that uses `postgres_db` twice: straight to the
# server, and through the pgbouncer `scripts/infra.sh` starts (transaction pooling, a `*`
# wildcard database, so each test's own database is reachable through it). A test marked
# `postgres_direct_only(reason)` there runs direct only, with its reason in the source; one that
# parametrizes `postgres_route` itself (indirect) keeps its own choice.

PGBOUNCER_HOST, PGBOUNCER_PORT = "127.0.0.1", 6432
POSTGRES_ROUTES = ("direct", "pgbouncer")


def pytest_configure(config: pytest.Config) -> None:
    """Register the route markers (the suites run with --strict-markers)."""
    config.addinivalue_line(
        "markers", "postgres_routes: run postgres_db tests direct and through pgbouncer"
    )
    config.addinivalue_line(
        "markers", "postgres_direct_only(reason): in a postgres_routes module, run direct only"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `postgres_route` over both routes in modules marked `postgres_routes`."""
    definition = metafunc.definition
    chosen = any(
        "postgres_route" in str(marker.args[0]) for marker in definition.iter_markers("parametrize")
    )
    if (
        "postgres_route" in metafunc.fixturenames
        and not chosen
        and definition.get_closest_marker("postgres_routes") is not None
        and definition.get_closest_marker("postgres_direct_only") is None
    ):
        metafunc.parametrize("postgres_route", POSTGRES_ROUTES, indirect=True, ids=POSTGRES_ROUTES)


@pytest.fixture
def postgres_route(request: pytest.FixtureRequest) -> str:
    """How the test's service reaches PostgreSQL: "direct", or "pgbouncer" when parametrized."""
    route: str = getattr(request, "param", "direct")
    if route == "pgbouncer":
        _require_server("pgbouncer", PGBOUNCER_HOST, PGBOUNCER_PORT)
    return route


@pytest.fixture
async def postgres_db(
    postgres_server: str, run_id: str, postgres_route: str
) -> AsyncIterator[PostgresDatabase]:
    """A fresh, empty database for this test on its route, dropped (with its connections) after."""
    import asyncpg  # noqa: PLC0415  (postgres is an optional extra)

    name = f"svcinfra_{run_id}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield PostgresDatabase(name, route=postgres_route)
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
def redis_server() -> str:
    """The URL of the Redis server; fails the test when the server is down."""
    _require_server("Redis", REDIS_HOST, REDIS_PORT)
    return f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture
def redis_namespace(run_id: str) -> str:
    """A key domain unique to this test (`<domain>:<entity>:<id>` keys start with it)."""
    return f"{run_id}{secrets.token_hex(3)}"


@pytest.fixture(scope="session")
def amqp_server() -> str:
    """The URL of the RabbitMQ server; fails the test when the server is down."""
    _require_server("RabbitMQ", AMQP_HOST, AMQP_PORT)
    return f"amqp://guest:guest@{AMQP_HOST}:{AMQP_PORT}/"


@pytest.fixture
def amqp_names(run_id: str) -> str:
    """A prefix for exchange and queue names unique to this test."""
    return f"{run_id}.{secrets.token_hex(3)}"
