"""`users relay` wired in process (its `setup`): readiness covers Postgres and the broker."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import aio_pika
import pytest
from users.app import Wiring, setup_relay
from users.config import UsersConfig

from svcinfra.app import Lifecycle
from svcinfra.config import load_config
from svcinfra.testing import FaultProxy

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from svcinfra.testing.pytest_plugin import PostgresDatabase

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


def config(dbname: str, amqp_port: int) -> UsersConfig:
    return load_config(
        UsersConfig,
        {
            "ENV_PREFIX": "USERS_",
            "SERVICE_NAME": "users",
            "ENV": "dev",
            "USERS_POSTGRES_HOST": "127.0.0.1",
            "USERS_POSTGRES_USER": "postgres",
            "USERS_POSTGRES_PASSWORD": "unused-with-trust-auth",
            "USERS_POSTGRES_DB": dbname,
            "USERS_POSTGRES_SSLMODE": "disable",
            "USERS_REDIS_HOST": "127.0.0.1",
            "USERS_RABBITMQ_HOST": "127.0.0.1",
            "USERS_RABBITMQ_PORT": str(amqp_port),
            "USERS_RABBITMQ_USER": "guest",
            "USERS_RABBITMQ_PASSWORD": "guest",
            "USERS_RABBITMQ_CONNECT_TIMEOUT": "1",
        },
    )


async def test_relay_readiness_follows_the_broker_and_the_exchange_is_declared(
    migrated: PostgresDatabase, wiring: Wiring, amqp_server: str
) -> None:
    exchange = wiring.contract.publication("user.registered.v1").exchange.name
    lifecycle = Lifecycle()
    async with FaultProxy("127.0.0.1", 5672) as broker:
        try:
            await setup_relay(lifecycle, config(migrated.name, broker.port), wiring)
            lifecycle.start()
            assert (await lifecycle.check_readiness()).ready

            await broker.refuse()
            broker.reset_all()

            async def broker_down() -> bool:
                readiness = await lifecycle.check_readiness()
                failed = {c.name for c in readiness.checks if not c.ok}
                return failed == {"rabbitmq"}

            await until_async(broker_down)
            await broker.accept()

            async def ready() -> bool:
                return (await lifecycle.check_readiness()).ready

            await until_async(ready)
        finally:
            report = await lifecycle.shutdown(timeout=10)
    assert report.clean
    connection = await aio_pika.connect(amqp_server)
    async with connection:
        channel = await connection.channel()
        await channel.get_exchange(exchange, ensure=True)  # declared by the relay's start-up
        await channel.exchange_delete(exchange)


async def until_async(condition: Callable[[], Awaitable[bool]]) -> None:
    """Poll an async condition; the test's timeout bounds the wait."""
    while not await condition():  # noqa: ASYNC110  (polling a probe, as a kubelet does)
        await asyncio.sleep(0.05)
