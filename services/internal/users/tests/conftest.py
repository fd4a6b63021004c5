"""Fixtures of the users tests: a migrated database per test, the real Redis and RabbitMQ under
names unique to the test, and the service wired over them as `users serve` wires it."""

from __future__ import annotations

from importlib.resources import files
from typing import TYPE_CHECKING

import httpx
import pytest
import yaml
from users.app import Wiring, build_app, build_service

from svcinfra.cache import KeyNamespace, create_cache_client
from svcinfra.config import RedisSettings
from svcinfra.messaging.contract import contract_from_document
from svcinfra.postgres import Database
from svcinfra.postgres.migrate import Migrator, load_migrations

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from users.domain.service import UsersService

    from svcinfra.cache import CacheClient
    from svcinfra.messaging import Contract
    from svcinfra.testing.pytest_plugin import PostgresDatabase

EXCHANGE = "users.events"


def prefixed_contract(prefix: str) -> Contract:
    """The service's contract with its exchange renamed `<prefix>.users.events`."""
    text = (files("users.api.server") / "asyncapi.yaml").read_text(encoding="utf-8")
    document = yaml.safe_load(text.replace(f"name: {EXCHANGE}", f"name: {prefix}.{EXCHANGE}"))
    return contract_from_document(document, source="asyncapi.yaml")


async def migrate_up(dsn: str) -> None:
    """Apply the service's migrations, as `users migrate up` does."""
    await Migrator(load_migrations(files("users.cli") / "migrations"), dsn).up()


@pytest.fixture
async def migrated(postgres_db: PostgresDatabase) -> PostgresDatabase:
    """A fresh database with every migration of the service applied."""
    await migrate_up(postgres_db.dsn)
    return postgres_db


@pytest.fixture
async def db(migrated: PostgresDatabase) -> AsyncIterator[Database]:
    """The service's pool on the migrated database."""
    database = await Database.connect(migrated.settings())
    yield database
    await database.close()


@pytest.fixture
def redis_settings(redis_server: str) -> RedisSettings:
    """Settings of the loopback Redis."""
    del redis_server
    return RedisSettings.model_validate({"host": "127.0.0.1"})


@pytest.fixture
async def cache_client(redis_settings: RedisSettings) -> AsyncIterator[CacheClient]:
    """A cache client on the loopback Redis."""
    client = create_cache_client(redis_settings)
    yield client
    await client.aclose()


@pytest.fixture
def wiring(redis_namespace: str, amqp_names: str) -> Wiring:
    """A key family and an exchange name unique to the test."""
    return Wiring(
        contract=prefixed_contract(amqp_names), namespace=KeyNamespace(redis_namespace, "profile")
    )


@pytest.fixture
def service(db: Database, cache_client: CacheClient, wiring: Wiring) -> UsersService:
    """The use cases, wired as `users serve` wires them."""
    return build_service(db, cache_client, wiring)


@pytest.fixture
async def api(
    db: Database, cache_client: CacheClient, wiring: Wiring
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client of the real ASGI app, in process, over the real database and Redis."""
    app = build_app(db, cache_client, wiring)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://users.test") as client:
        yield client
