"""Events: outbox rows written with the change in one transaction, published by the relay."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import aio_pika
import asyncpg
import pytest
from pydantic import SecretStr
from users.domain.entity import NewUser
from users.domain.errors import Conflict
from users.mq.topology import declare_events

from svcinfra.config import AmqpSettings
from svcinfra.messaging import Publisher
from svcinfra.messaging.outbox import Relay

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from users.app import Wiring
    from users.domain.service import UsersService

    from svcinfra.postgres import Database
    from svcinfra.testing.pytest_plugin import PostgresDatabase

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


async def outbox(dsn: str) -> list[dict[str, Any]]:
    con = await asyncpg.connect(dsn)
    try:
        rows = await con.fetch(
            "SELECT id, message_name, payload FROM svcinfra_outbox"
            " ORDER BY created_at, message_name"
        )
    finally:
        await con.close()
    return [
        {"id": str(r["id"]), "name": r["message_name"], "payload": json.loads(r["payload"])}
        for r in rows
    ]


async def users_count(dsn: str) -> int:
    con = await asyncpg.connect(dsn)
    try:
        return int(await con.fetchval("SELECT count(*) FROM users"))
    finally:
        await con.close()


async def test_each_change_writes_its_event_to_the_outbox(
    service: UsersService, migrated: PostgresDatabase
) -> None:
    user = await service.register(email="Ada@example.com", username="ada", display_name="Ada")
    changed = await service.update(user.id, email="countess@example.com")
    await service.delete(user.id)

    rows = await outbox(migrated.dsn)

    assert [r["name"] for r in rows] == ["user.registered.v1", "user.updated.v1", "user.deleted.v1"]
    registered, updated, deleted = (r["payload"] for r in rows)
    assert registered == {
        "user_id": str(user.id),
        "email": "ada@example.com",
        "username": "ada",
        "display_name": "Ada",
        "registered_at": user.created_at.isoformat().replace("+00:00", "Z"),
    }
    assert updated["email"] == "countess@example.com"
    assert updated["updated_at"] == changed.updated_at.isoformat().replace("+00:00", "Z")
    assert set(deleted) == {"user_id", "deleted_at"}
    assert deleted["deleted_at"].endswith("Z")


async def test_a_rolled_back_change_leaves_no_event(
    service: UsersService, migrated: PostgresDatabase
) -> None:
    await service.register(email="ada@example.com", username="ada", display_name="Ada")

    with pytest.raises(Conflict):
        await service.register(email="ada@example.com", username="other", display_name="Other")

    assert [r["name"] for r in await outbox(migrated.dsn)] == ["user.registered.v1"]
    assert await users_count(migrated.dsn) == 1


async def test_an_event_is_written_atomically_with_its_change(
    service: UsersService, migrated: PostgresDatabase
) -> None:
    """The user row and the outbox row commit together, or neither does (MQ-3)."""
    transactions = service._transactions

    with pytest.raises(RuntimeError, match="after the event"):  # noqa: PT012  (a whole unit of work)
        async with transactions.begin() as work:
            user = await work.users.create(NewUser("ada@example.com", "ada", "Ada"))
            await work.events.registered(user)
            assert len(await outbox(migrated.dsn)) == 0  # not visible before the commit
            raise RuntimeError("failure after the event")

    assert await outbox(migrated.dsn) == []
    assert await users_count(migrated.dsn) == 0


@pytest.fixture
def amqp_settings(amqp_server: str) -> AmqpSettings:
    del amqp_server
    return AmqpSettings.model_validate(
        {"host": "127.0.0.1", "user": "guest", "password": SecretStr("guest")}
    )


@pytest.fixture
async def events_queue(
    amqp_settings: AmqpSettings, wiring: Wiring, amqp_names: str
) -> AsyncIterator[aio_pika.abc.AbstractQueue]:
    """The test's exchange, declared as `users relay` declares it, and a queue bound to it."""
    await declare_events(amqp_settings, wiring.contract)
    exchange = wiring.contract.publication("user.registered.v1").exchange.name
    connection = await aio_pika.connect(amqp_settings.url().get_secret_value())
    channel = await connection.channel()
    queue = await channel.declare_queue(f"{amqp_names}.probe", auto_delete=True)
    await queue.bind(exchange, routing_key="user.#")
    try:
        yield queue
    finally:
        await queue.delete(if_unused=False, if_empty=False)
        await channel.exchange_delete(exchange)
        await connection.close()


@pytest.mark.rabbitmq
async def test_the_relay_publishes_each_event_once_with_its_outbox_id(  # noqa: PLR0917
    service: UsersService,
    db: Database,
    wiring: Wiring,
    amqp_settings: AmqpSettings,
    events_queue: aio_pika.abc.AbstractQueue,
    migrated: PostgresDatabase,
) -> None:
    user = await service.register(email="ada@example.com", username="ada", display_name="Ada")
    await service.delete(user.id)
    rows = await outbox(migrated.dsn)

    async with Publisher.from_settings(wiring.contract, amqp_settings, name="users-test") as pub:
        relay = Relay(db, pub)
        assert await relay.relay_batch() == 2
        assert await relay.relay_batch() == 0  # marked sent: never published twice

    received = []
    while (message := await events_queue.get(fail=False, timeout=5)) is not None:
        await message.ack()
        received.append(message)
    assert sorted(m.message_id or "" for m in received) == sorted(r["id"] for r in rows)
    by_type = {m.type: m for m in received}
    assert set(by_type) == {"user.registered.v1", "user.deleted.v1"}
    registered = by_type["user.registered.v1"]
    assert registered.routing_key == "user.registered.v1"
    assert registered.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert json.loads(registered.body)["user_id"] == str(user.id)
    assert uuid.UUID(registered.message_id or "")
