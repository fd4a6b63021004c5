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

    @property
    def dsn(self) -> str:
        """The libpq URL of the database (trust auth: no password)."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.name}"

    def settings(self, **overrides: object) -> PostgresSettings:
        """`PostgresSettings` for this database: a small pool, short connect timeout, no TLS."""
        values: dict[str, object] = {
            "host": self.host,
            "port": self.port,
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


@pytest.fixture
async def postgres_db(postgres_server: str, run_id: str) -> AsyncIterator[PostgresDatabase]:
    """A fresh, empty database for this test, dropped (with its connections) afterwards."""
    import asyncpg  # noqa: PLC0415  (postgres is an optional extra)

    name = f"svcinfra_{run_id}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(postgres_server)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield PostgresDatabase(name)
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
