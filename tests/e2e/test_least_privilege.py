"""Least privilege (CF-4, PG-12): the deploy init containers' accounts reach their own resources.

The accounts are provisioned by the very commands the init containers of deploy/ run
(`svcinfra provision postgres` and `svcinfra provision rabbitmq --contract <service>`, read from
the rendered manifests: tests/deploy/init_containers.py), with the variables the pods get, on
names of this run: own databases and roles, own vhost (created first, as the platform would) and
own broker users, all dropped at the end. The management API calls go to a local stand-in that
hands the same definitions document to `rabbitmqctl import_definitions` (the shared broker runs
no management plugin; both paths end in the broker's definitions importer). The tests then
connect with the generated credentials and try what a compromised service could try.

The grants are compared with a hand-written expectation of each contract: a change that widens
one (a prefix instead of a name, a `.*`, another service's queue) fails here.

PostgreSQL on the development and CI machines trusts loopback connections, so a wrong password
would be accepted here: these tests cannot prove password checking. They prove the rest through
the roles' privileges, which the server enforces whatever the authentication method.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import aio_pika
import aiormq.exceptions
import asyncpg
import pytest
from devstack import Stack
from devstack._provision import ensure_vhost, run_async

from svcinfra.messaging.contract import load_package_contract
from svcinfra.messaging.topology import Topology, declare_topology
from svcinfra.provision import Grant, Rabbitmqctl, grant_for_contract

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "deploy"))
from init_containers import (
    ManagementShim,
    init_argv,
    rendered,
    run_init,
    write_scripts,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.rabbitmq]

PG = "127.0.0.1:5432"
AMQP = "127.0.0.1:5672"
ADMIN_DSN = f"postgresql://postgres@{PG}/postgres"
USERS_EXCHANGE = "users.events"
NOTIFICATIONS_EXCHANGE = "notifications.events"
NOTIFICATIONS_QUEUE = "notifications.user-registered"
NOTIFICATIONS_DLQ = "notifications.user-registered.dlq"
DEPLOYMENTS = {"users": "users-api", "notifications": "notifications-consumer"}

# What each contract needs, written out by hand: the derivation and the broker must agree with
# it. users publishes to its exchange and reads nothing; notifications declares its queue, DLQ and
# retry tiers (any delay: CONSUMER_RETRY_BACKOFF), binds from users.events and dead-letters /
# retries through the default exchange (amq.default).
_Q = r"notifications\.user\-registered"
_WAIT = _Q + r"\.retry\.[0-9]+(?:ms|s|m|h)"
EXPECTED = {
    "users": Grant(r"^(?:users\.events)$", r"^(?:users\.events)$", "^$"),
    "notifications": Grant(
        configure=rf"^(?:notifications\.events|{_Q}|{_Q}\.dlq|users\.events|{_WAIT})$",
        write=rf"^(?:amq\.default|notifications\.events|{_Q}|{_Q}\.dlq|{_WAIT})$",
        read=rf"^(?:{_Q}|{_Q}\.dlq|users\.events|{_WAIT})$",
    ),
}


def pod_env(stack: Stack, service: str, management_port: int) -> dict[str, str]:
    """What the provisioning init containers get (envFrom), pointed at this machine's servers.

    shared-config and shared-admin with local values (their variable names checked against the
    rendered manifests), and the service's own config and secret as the stack generates them.
    """
    shared = {
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432",
        "POSTGRES_MAINT_DB": "postgres",
        "POSTGRES_SSLMODE": "disable",
        "RABBITMQ_HOST": "127.0.0.1",
        "RABBITMQ_MANAGEMENT_PORT": str(management_port),
    }
    admin = {
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "unused-with-trust-auth",
        "RABBITMQ_ADMIN_USER": "guest",
        "RABBITMQ_ADMIN_PASSWORD": "guest",
    }
    manifests = rendered("dev")
    shared_config, shared_admin = (
        manifests.find("ConfigMap", "shared-config"),
        manifests.find("Secret", "shared-admin"),
    )
    assert shared_config is not None
    assert shared_admin is not None
    assert set(shared) <= set(shared_config["data"])
    assert set(admin) <= set(shared_admin["stringData"])
    prefix = service.upper() + "_"
    own = {
        k: v
        for k, v in stack.service_env(service).items()
        if k.startswith(prefix) or k == "ENV_PREFIX"
    }
    extra = {"CONSUMER_TOPOLOGY_PREFIX": ""} if service == "notifications" else {}
    return shared | admin | own | extra


@pytest.fixture(scope="module")
def accounts(
    run_id: str,
    postgres_server: str,
    amqp_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The roles, databases (migrated), vhost and broker users, made by the init containers."""
    del postgres_server, amqp_server  # they fail the module when a server is down
    tmp = tmp_path_factory.mktemp("least-privilege")
    scripts = write_scripts(tmp / "scripts")
    stack = Stack(run_id=f"{run_id}lp", log_dir=tmp / "logs")
    try:
        ensure_vhost(stack.names.vhost)  # the platform's part, as in a cluster
        with ManagementShim("guest", "guest") as shim:
            for service, deployment in DEPLOYMENTS.items():
                env = pod_env(stack, service, shim.port)
                for container in ("create-db", "create-rabbitmq-user"):
                    done = run_init(init_argv(deployment, container, scripts), env)
                    assert done.returncode == 0, f"{container}: {done.stderr}"
                    output = done.stdout + done.stderr
                    assert not any(secret in output for secret in stack.secret_values())
        # Nothing the broker received carries a password: only hashes.
        received = "".join(body for _, _, body in shim.received)
        assert received
        assert not any(secret in received for secret in stack.secret_values())
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


@pytest.fixture(scope="module")
def contracts() -> dict[str, Topology]:
    """The production topology of each service's contract."""
    return {s: Topology.from_contract(load_package_contract(s)) for s in DEPLOYMENTS}


@pytest.fixture
async def contract(accounts: Stack, contracts: dict[str, Topology]) -> None:
    """Each service declares its own topology with its own user, as it does at start-up.

    The control for every refusal below: the grants are wide enough for the services' own work.
    """
    for service in ("users", "notifications"):  # notifications binds to users.events
        connection = await aio_pika.connect(amqp_url(accounts, service), timeout=10)
        async with connection:
            await declare_topology(connection, contracts[service])


# --- The grants themselves ----------------------------------------------------------------------


@pytest.mark.parametrize("service", sorted(DEPLOYMENTS))
def test_the_brokers_grants_are_exactly_the_contracts(accounts: Stack, service: str) -> None:
    """What the init container set on the broker equals the contract's, equals the hand-written."""
    user = getattr(accounts.names, f"{service}_amqp_user")
    on_broker = Rabbitmqctl().permissions(user)
    assert on_broker == {accounts.names.vhost: EXPECTED[service]}
    assert grant_for_contract(load_package_contract(service)) == EXPECTED[service]


# Names each grant must not match: the other service's, and near misses of its own.
NEAR_MISSES = [
    "users.events.audit",
    "xusers.events",
    "users.eventsx",
    "users.events-dlq",
    "users_events",
    "notifications.events.x",
    "notifications.user-registered.x",
    "notifications.user-registered.dlq.x",
    "notifications.user-registered.retry.",
    "notifications.user-registered.retry.1s.x",
    "notifications.user-registered.retry.1d",
    "notifications.user-registeredXretry.1s",
    "notifications.other",
    "amq.default.x",
    "amq.topic",
    "amq.gen-Xy",  # a server-named queue ("" is never checked: it means amq.default or this)
]
OWN = {
    "users": {"configure": ["users.events"], "write": ["users.events"], "read": []},
    "notifications": {
        "configure": ["notifications.events", NOTIFICATIONS_QUEUE, NOTIFICATIONS_DLQ,
                      "users.events", f"{NOTIFICATIONS_QUEUE}.retry.200ms",
                      f"{NOTIFICATIONS_QUEUE}.retry.30s"],
        "write": ["notifications.events", NOTIFICATIONS_QUEUE, NOTIFICATIONS_DLQ, "amq.default",
                  f"{NOTIFICATIONS_QUEUE}.retry.5s"],
        "read": [NOTIFICATIONS_QUEUE, NOTIFICATIONS_DLQ, "users.events",
                 f"{NOTIFICATIONS_QUEUE}.retry.1m"],
    },
}  # fmt: skip


@pytest.mark.parametrize("service", sorted(DEPLOYMENTS))
@pytest.mark.parametrize("kind", ["configure", "write", "read"])
def test_each_pattern_matches_its_names_and_nothing_near(service: str, kind: str) -> None:
    """Anchored and escaped: the own names match, the other service's and near misses do not."""
    pattern = re.compile(getattr(EXPECTED[service], kind))
    own = OWN[service][kind]
    others = [n for other, kinds in OWN.items() if other != service for n in kinds[kind]]
    for name in own:
        assert pattern.search(name), (name, pattern.pattern)
    for name in [*NEAR_MISSES, *others]:
        if name not in own:
            assert not pattern.search(name), (name, pattern.pattern)


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


async def attempt(url: str, action: str, name: str) -> None:
    """One operation on a fresh channel (an ACCESS_REFUSED closes the channel)."""
    connection = await aio_pika.connect(url, timeout=10)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        if action == "get":
            queue = await channel.get_queue(name, ensure=False)
            await queue.get(no_ack=False, fail=False, timeout=10)
        elif action == "purge":
            queue = await channel.get_queue(name, ensure=False)
            await queue.purge(timeout=10)
        elif action == "delete-queue":
            await channel.queue_delete(name, timeout=10)
        elif action == "delete-exchange":
            await channel.exchange_delete(name, timeout=10)
        elif action == "publish-to-queue":  # through the default exchange, routing key = queue
            await channel.default_exchange.publish(aio_pika.Message(b"{}"), name, timeout=10)
        elif action == "publish":
            exchange = await channel.get_exchange(name, ensure=False)
            await exchange.publish(aio_pika.Message(b"{}"), "user.registered.v1", timeout=10)
        elif action == "declare-queue":
            await channel.declare_queue(name, durable=True)
        elif action == "declare-exchange":
            await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
        elif action == "bind-to":  # bind the notifications queue to `name`
            queue = await channel.get_queue(NOTIFICATIONS_QUEUE, ensure=False)
            await queue.bind(name, "#", timeout=10)
        else:
            raise AssertionError(action)


@pytest.mark.usefixtures("contract")
@pytest.mark.parametrize(
    ("action", "name"),
    [
        ("get", NOTIFICATIONS_QUEUE),
        ("get", NOTIFICATIONS_DLQ),
        ("purge", NOTIFICATIONS_QUEUE),
        ("purge", NOTIFICATIONS_DLQ),
        ("delete-queue", NOTIFICATIONS_DLQ),
        ("publish-to-queue", NOTIFICATIONS_QUEUE),
        ("publish-to-queue", NOTIFICATIONS_DLQ),
        ("publish", NOTIFICATIONS_EXCHANGE),
        ("declare-queue", "notifications.stolen"),
        ("declare-queue", "users.anything"),
        ("declare-exchange", NOTIFICATIONS_EXCHANGE),
        ("delete-exchange", NOTIFICATIONS_EXCHANGE),
    ],
)
async def test_users_cannot_touch_the_notifications_queues(
    accounts: Stack, action: str, name: str
) -> None:
    """users can neither read, purge, delete nor fill notifications' queues and DLQ."""
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused) as refused:
        await attempt(amqp_url(accounts, "users"), action, name)
    assert "ACCESS_REFUSED" in str(refused.value)


@pytest.mark.usefixtures("contract")
@pytest.mark.parametrize(
    ("action", "name"),
    [
        ("publish", USERS_EXCHANGE),
        ("delete-queue", "users.audit-queue"),
        ("declare-queue", "users.stolen"),
        ("declare-exchange", "users.private"),
        ("declare-exchange", "notifications.events.extra"),
        ("declare-queue", "notifications.user-registered.retry.forever"),
        ("bind-to", "users.audit"),
        ("get", "users.audit-queue"),
        ("purge", "users.audit-queue"),
    ],
)
async def test_notifications_cannot_touch_what_is_not_its_own(
    accounts: Stack, action: str, name: str
) -> None:
    """notifications cannot publish as users, nor reach what is outside its contract."""
    admin = await aio_pika.connect(accounts.amqp_admin_url, timeout=10)
    async with admin:  # they exist: a refusal is for permissions, not a 404
        channel = await admin.channel()
        await channel.declare_exchange("users.audit", aio_pika.ExchangeType.TOPIC)
        await channel.declare_queue("users.audit-queue", durable=True)
    with pytest.raises(aiormq.exceptions.ChannelAccessRefused) as refused:
        await attempt(amqp_url(accounts, "notifications"), action, name)
    assert "ACCESS_REFUSED" in str(refused.value)


@pytest.mark.usefixtures("contract")
@pytest.mark.parametrize(
    ("service", "action", "name"),
    [
        ("users", "publish", USERS_EXCHANGE),
        ("notifications", "publish", NOTIFICATIONS_EXCHANGE),
        ("notifications", "get", NOTIFICATIONS_QUEUE),
        ("notifications", "publish-to-queue", NOTIFICATIONS_DLQ),
        ("notifications", "get", NOTIFICATIONS_DLQ),
        ("notifications", "purge", NOTIFICATIONS_DLQ),
        ("notifications", "declare-queue", f"{NOTIFICATIONS_QUEUE}.retry.200ms"),
    ],
)
async def test_each_service_uses_its_own_resources(
    accounts: Stack, service: str, action: str, name: str
) -> None:
    """The controls: the same users do their own work (with other retry tiers too)."""
    await attempt(amqp_url(accounts, service), action, name)
