"""Least privilege (CF-4, PG-12): each service's accounts reach its own resources only.

The accounts are provisioned by the stack launcher exactly as `make run` provisions them
(`Stack.provision` and `Stack.migrate`, on names of this run), and no process is started: the
tests connect with the generated credentials themselves and try what a compromised service
could try.

PostgreSQL on the development and CI machines trusts loopback connections, so a wrong password
would be accepted here: these tests cannot prove password checking. They prove the rest through
the roles' privileges, which the server enforces whatever the authentication method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import aio_pika
import aiormq.exceptions
import asyncpg
import pytest
from devstack import Stack
from devstack._provision import run_async

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.rabbitmq]

PG = "127.0.0.1:5432"
AMQP = "127.0.0.1:5672"
ADMIN_DSN = f"postgresql://postgres@{PG}/postgres"
USERS_EXCHANGE = "users.events"
NOTIFICATIONS_EXCHANGE = "notifications.events"
NOTIFICATIONS_QUEUE = "notifications.user-registered"


@pytest.fixture(scope="module")
def accounts(
    run_id: str,
    postgres_server: str,
    amqp_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The stack's roles, databases (migrated), vhost and broker users; dropped at the end."""
    del postgres_server, amqp_server  # they fail the module when a server is down
    log_dir: Path = tmp_path_factory.mktemp("least-privilege-logs")
    stack = Stack(run_id=f"{run_id}lp", log_dir=log_dir)
    try:
        stack.provision()
        stack.migrate()
        yield stack
    finally:
        # What an escalation that should have failed created would keep its role from dropping.
        run_async(drop_forbidden(forbidden(stack)))
        stack.teardown()


def forbidden(stack: Stack) -> str:
    """The name of the database and role the escalation tests try to create."""
    return f"{stack.names.users_db}_forbidden"


async def drop_forbidden(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'DROP ROLE IF EXISTS "{name}"')
    finally:
        await admin.close()


def pg_dsn(stack: Stack, service: str, db: str) -> str:
    """The DSN `service` would use, pointed at database `db`."""
    env = stack.service_env(service)
    prefix = service.upper() + "_"
    user = env[f"{prefix}POSTGRES_USER"]
    password = quote(env[f"{prefix}POSTGRES_PASSWORD"], safe="")
    return f"postgresql://{user}:{password}@{PG}/{db}"


def amqp_url(stack: Stack, service: str) -> str:
    """The AMQP URL of `service`'s broker user on the stack's vhost."""
    env = stack.service_env(service)
    prefix = service.upper() + "_"
    user = env[f"{prefix}RABBITMQ_USER"]
    password = quote(env[f"{prefix}RABBITMQ_PASSWORD"], safe="")
    return f"amqp://{user}:{password}@{AMQP}/{quote(stack.names.vhost, safe='')}"


@pytest.fixture
async def contract(accounts: Stack) -> AsyncIterator[None]:
    """The exchanges and queue of the two services, declared by the admin as the services do."""
    admin = await aio_pika.connect(accounts.amqp_admin_url, timeout=10)
    async with admin:
        channel = await admin.channel()
        users_events = await channel.declare_exchange(
            USERS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        await channel.declare_exchange(
            NOTIFICATIONS_EXCHANGE, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(NOTIFICATIONS_QUEUE, durable=True)
        await queue.bind(users_events, "user.registered.v1")
        yield


# --- PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("service", "other_db"),
    [("users", "notifications_db"), ("notifications", "users_db")],
)
async def test_a_role_cannot_connect_to_the_other_services_database(
    accounts: Stack, service: str, other_db: str
) -> None:
    own_db = accounts.names.users_db if service == "users" else accounts.names.notifications_db
    own = await asyncpg.connect(pg_dsn(accounts, service, own_db), timeout=10)
    try:  # the control: the same credentials open the service's own database
        assert await own.fetchval("SELECT current_user") == own_db
    finally:
        await own.close()

    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
        await asyncpg.connect(
            pg_dsn(accounts, service, getattr(accounts.names, other_db)), timeout=10
        )


async def test_users_cannot_read_the_notifications_tables_even_with_connect(
    accounts: Stack,
) -> None:
    """Defence in depth: the tables themselves grant nothing to another role (PG-12)."""
    names = accounts.names
    admin = await asyncpg.connect(f"postgresql://postgres@{PG}/{names.notifications_db}")
    try:
        tables = await admin.fetch(
            "SELECT c.oid::regclass::text AS name, pg_get_userbyid(c.relowner) AS owner"
            " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind IN ('r', 'p')"
            " AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        )
        assert tables, "the notifications migrations created no table"
        for table in tables:
            assert table["owner"] == names.notifications_role, table
            readable = await admin.fetchval(
                "SELECT has_table_privilege($1, $2, 'SELECT,INSERT,UPDATE,DELETE')",
                names.users_role,
                table["name"],
            )
            assert readable is False, table["name"]
    finally:
        await admin.close()


async def test_roles_are_not_privileged_and_own_only_their_database(accounts: Stack) -> None:
    names = accounts.names
    admin = await asyncpg.connect(ADMIN_DSN, timeout=10)
    try:
        for role, db in (
            (names.users_role, names.users_db),
            (names.notifications_role, names.notifications_db),
        ):
            flags = await admin.fetchrow(
                "SELECT rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls,"
                " rolcanlogin FROM pg_roles WHERE rolname = $1",
                role,
            )
            assert flags is not None, role
            assert dict(flags) == {
                "rolsuper": False,
                "rolcreatedb": False,
                "rolcreaterole": False,
                "rolreplication": False,
                "rolbypassrls": False,
                "rolcanlogin": True,
            }
            owned = await admin.fetch(
                "SELECT datname FROM pg_database WHERE datdba = (SELECT oid FROM pg_roles"
                " WHERE rolname = $1)",
                role,
            )
            assert [row["datname"] for row in owned] == [db]
            members = await admin.fetch(
                "SELECT b.rolname FROM pg_auth_members m JOIN pg_roles b ON b.oid = m.roleid"
                " WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = $1)",
                role,
            )
            assert members == [], f"{role} is a member of {members}"
    finally:
        await admin.close()


@pytest.mark.parametrize("service", ["users", "notifications"])
@pytest.mark.parametrize(
    "statement",
    [
        'CREATE DATABASE "{forbidden}"',
        'CREATE ROLE "{forbidden}"',
        "ALTER ROLE CURRENT_USER SUPERUSER",
        "COPY (SELECT 1) TO PROGRAM 'true'",
    ],
)
async def test_a_role_cannot_escalate(accounts: Stack, service: str, statement: str) -> None:
    db = accounts.names.users_db if service == "users" else accounts.names.notifications_db
    connection = await asyncpg.connect(pg_dsn(accounts, service, db), timeout=10)
    try:
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await connection.execute(statement.format(forbidden=forbidden(accounts)))
    finally:
        await connection.close()


# --- RabbitMQ -----------------------------------------------------------------------------------


async def publish_confirmed(url: str, exchange: str, routing_key: str) -> None:
    """Publish one message with publisher confirms on an existing `exchange`."""
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        target = await channel.get_exchange(exchange, ensure=False)
        await target.publish(aio_pika.Message(b"{}"), routing_key, timeout=10)


@pytest.mark.usefixtures("contract")
async def test_notifications_cannot_publish_to_the_users_exchange(accounts: Stack) -> None:
    url = amqp_url(accounts, "notifications")
    # The control: the same user publishes to its own exchange.
    await publish_confirmed(url, NOTIFICATIONS_EXCHANGE, "notification.sent.v1")

    with pytest.raises(aiormq.exceptions.ChannelAccessRefused) as refused:
        await publish_confirmed(url, USERS_EXCHANGE, "user.registered.v1")
    # aiormq raises ChannelAccessRefused for the channel close reply code 403 only.
    assert "ACCESS_REFUSED" in str(refused.value)
    assert USERS_EXCHANGE in str(refused.value)


@pytest.mark.usefixtures("contract")
async def test_users_cannot_publish_to_the_notifications_exchange(accounts: Stack) -> None:
    url = amqp_url(accounts, "users")
    await publish_confirmed(url, USERS_EXCHANGE, "user.registered.v1")  # the control

    with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
        await publish_confirmed(url, NOTIFICATIONS_EXCHANGE, "notification.sent.v1")


@pytest.mark.usefixtures("contract")
async def test_users_cannot_read_the_notifications_queue(accounts: Stack) -> None:
    connection = await aio_pika.connect(amqp_url(accounts, "users"), timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.get_queue(NOTIFICATIONS_QUEUE, ensure=False)
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await queue.get(no_ack=False, fail=False, timeout=10)


@pytest.mark.usefixtures("contract")
@pytest.mark.parametrize(
    ("service", "attempt"),
    [
        ("notifications", "declare-exchange users.private"),
        ("notifications", "declare-queue users.stolen"),
        ("notifications", "bind notifications.user-registered users.audit"),
        ("users", "declare-queue notifications.stolen"),
        ("users", "declare-exchange notifications.events"),
        ("users", "declare-queue audit.anything"),
    ],
)
async def test_a_user_cannot_declare_or_bind_outside_its_permissions(
    accounts: Stack, service: str, attempt: str
) -> None:
    """configure / write / read regular expressions (CF-4) hold for declarations and bindings."""
    verb, *args = attempt.split()
    admin = await aio_pika.connect(accounts.amqp_admin_url, timeout=10)
    async with admin:  # `users.audit` exists: the bind is refused for permissions, not a 404
        admin_channel = await admin.channel()
        await admin_channel.declare_exchange("users.audit", aio_pika.ExchangeType.TOPIC)
    connection = await aio_pika.connect(amqp_url(accounts, service), timeout=10)
    async with connection:
        channel = await connection.channel()
        with pytest.raises(aiormq.exceptions.ChannelAccessRefused):
            await try_attempt(channel, verb, args)


async def try_attempt(channel: aio_pika.abc.AbstractChannel, verb: str, args: list[str]) -> None:
    """Declare an exchange or a queue, or bind a queue to an exchange."""
    if verb == "declare-exchange":
        await channel.declare_exchange(args[0], aio_pika.ExchangeType.TOPIC, durable=True)
    elif verb == "declare-queue":
        await channel.declare_queue(args[0], durable=True)
    else:
        queue = await channel.get_queue(args[0], ensure=False)
        await queue.bind(args[1], "#")
