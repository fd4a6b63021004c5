"""The service running in-process, wired by its own composition root, against real servers.

`notifications` is started with `setup_consume` and `setup_relay` on a real PostgreSQL database,
a real RabbitMQ broker (names under the test's prefix) and a scripted mail API
(`UpstreamServer`): the same code as the processes, minus the signal handling.
"""

from __future__ import annotations

import secrets
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aio_pika
import asyncpg
import notifkit
import pytest
from notifications.app import setup_consume, setup_relay
from notifications.config import NotificationsConfig
from notifications.repository.postgres.deliveries import PostgresDeliveries

from svcinfra.app import Lifecycle
from svcinfra.config import load_config
from svcinfra.httpclient.testing import UpstreamServer
from svcinfra.postgres import Database, load_queries

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from contextlib import AbstractAsyncContextManager

    from notifications.domain.entity import Delivery


@dataclass
class Running:
    """The running service and what the test inspects."""

    broker: notifkit.Broker
    mail: UpstreamServer
    repository: PostgresDeliveries
    dsn: str
    api_key: str
    config: NotificationsConfig

    async def deliveries(self) -> list[Delivery]:
        """Every delivery recorded, oldest first (read with the driver: the test's own view)."""
        con = await asyncpg.connect(self.dsn)
        try:
            ids = await con.fetch("SELECT source_message_id FROM deliveries ORDER BY recorded_at")
        finally:
            await con.close()
        found = [await self.repository.get_by_source(row["source_message_id"]) for row in ids]
        return [delivery for delivery in found if delivery is not None]

    async def count(self, table: str) -> int:
        """Rows in `table` (deliveries, svcinfra_inbox, svcinfra_outbox)."""
        con = await asyncpg.connect(self.dsn)
        try:
            return int(await con.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
        finally:
            await con.close()


@pytest.fixture
def start(
    postgres_db, amqp_server, amqp_names
) -> Callable[..., AbstractAsyncContextManager[Running]]:
    """Start the service (consumer and relay) in-process; stop and clean up afterwards."""
    del amqp_server  # fails the test loudly when the broker is down

    @asynccontextmanager
    async def started(*, pg_port: int = 5432, **extra: str) -> AsyncIterator[Running]:
        await notifkit.migrate(postgres_db.dsn)
        api_key = f"test-key-{secrets.token_hex(12)}"
        async with UpstreamServer(
            default=notifkit.accepted("11111111-1111-4111-8111-111111111111")
        ) as mail:
            env = notifkit.environ(
                prefix=amqp_names,
                dbname=postgres_db.name,
                mail_url=mail.url,
                api_key=api_key,
                pg_port=pg_port,
                **extra,
            )
            config = load_config(NotificationsConfig, environ=env)
            connection = await aio_pika.connect(notifkit.AMQP_URL)
            broker = notifkit.Broker(amqp_names, connection)
            db = await Database.connect(postgres_db.settings())
            consume, relay = Lifecycle(), Lifecycle()
            try:
                await setup_consume(consume, config)
                await setup_relay(relay, config)
                await broker.bind_sent_queue()
                consume.start()
                relay.start()
                yield Running(
                    broker,
                    mail,
                    PostgresDeliveries(db, load_queries("notifications")),
                    postgres_db.dsn,
                    api_key,
                    config,
                )
            finally:
                await consume.shutdown(timeout=15)
                await relay.shutdown(timeout=15)
                await broker.delete_all(backoff=env["CONSUMER_RETRY_BACKOFF"])
                await connection.close()
                await db.close()

    return started
