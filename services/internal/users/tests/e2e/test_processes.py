"""`users serve`, `users relay` and `users migrate` started as processes, as a user starts them.

Configuration comes only from the environment (exit 78 listing every problem when it is
broken), logs are JSON lines without secrets, readiness follows Postgres but not Redis, and
SIGTERM drains the requests in flight before the process exits 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aio_pika
import httpx
import pytest

from svcinfra.testing import FaultProxy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator
    from pathlib import Path

    from svcinfra.testing.pytest_plugin import PostgresDatabase

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.postgres_routes,  # serve and relay direct and through pgbouncer (issue 14)
]

USERS = "/api/v1/users"
DB_PASSWORD = f"pw-{secrets.token_urlsafe(12)}"  # trust auth ignores it; the logs must too
ADA = {"email": "ada@example.com", "username": "ada", "display_name": "Ada"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(dbname: str, **overrides: str | None) -> dict[str, str]:
    """Every variable `users serve` and `users relay` read (see .env.example)."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "ENV_PREFIX": "USERS_",
        "SERVICE_NAME": "users",
        "ENV": "dev",
        "HTTP_HOST": "127.0.0.1",
        "API_PORT": str(free_port()),
        "TECH_PORT": str(free_port()),
        "SHUTDOWN_TIMEOUT": "10",
        "HTTP_DRAIN_DELAY": "0",  # tests/e2e/test_rolling_restart.py drains behind a balancer
        "USERS_POSTGRES_HOST": "127.0.0.1",
        "USERS_POSTGRES_PORT": "5432",
        "USERS_POSTGRES_USER": "postgres",
        "USERS_POSTGRES_PASSWORD": DB_PASSWORD,
        "USERS_POSTGRES_DB": dbname,
        "USERS_POSTGRES_SSLMODE": "disable",
        "USERS_POSTGRES_CONNECT_TIMEOUT": "1",
        "USERS_REDIS_HOST": "127.0.0.1",
        "USERS_RABBITMQ_HOST": "127.0.0.1",
        "USERS_RABBITMQ_USER": "guest",
        "USERS_RABBITMQ_PASSWORD": "guest",
    }
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def environment_for(db: PostgresDatabase, **overrides: str | None) -> dict[str, str]:
    """`environment` on the database's route: through pgbouncer, its port and the pooler setting."""
    route: dict[str, str | None] = {"USERS_POSTGRES_PORT": str(db.service_port)}
    if db.route == "pgbouncer":
        route["USERS_POSTGRES_POOLER"] = "transaction"
    return environment(db.name, **(route | overrides))


@dataclass
class Process:
    """A running `users` command and its output files."""

    popen: subprocess.Popen[bytes]
    env: dict[str, str]
    out: Path
    err: Path

    @property
    def tech(self) -> str:
        return f"http://127.0.0.1:{self.env['TECH_PORT']}"

    @property
    def api(self) -> str:
        return f"http://127.0.0.1:{self.env['API_PORT']}"

    def output(self) -> str:
        return self.out.read_text() + self.err.read_text()

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.read_text().splitlines()]

    async def status(self, url: str) -> int | None:
        try:
            async with httpx.AsyncClient(timeout=5) as client:
                return (await client.get(url)).status_code
        except httpx.TransportError:
            return None

    async def wait_for(self, condition: Callable[[], Any], what: str) -> None:
        """Poll until `condition()` holds; the test's timeout bounds the wait."""
        while not await condition():
            if self.popen.poll() is not None:
                pytest.fail(f"exited {self.popen.returncode} before {what}:\n{self.output()}")
            await asyncio.sleep(0.05)

    async def readyz(self) -> int | None:
        return await self.status(f"{self.tech}/health/readyz")

    async def wait_ready(self) -> None:
        async def ready() -> bool:
            return await self.readyz() == 200

        await self.wait_for(ready, "readiness")

    async def stop(self) -> int:
        self.popen.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.popen.wait, 30)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Process]]:
    """Start `python -m users <command>`; whatever is still running at the end is killed."""
    started: list[Process] = []

    def run(*command: str, env: dict[str, str]) -> Process:
        n = len(started)
        out, err = tmp_path / f"{n}.out", tmp_path / f"{n}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            popen = subprocess.Popen(
                [sys.executable, "-m", "users", *command], env=env, stdout=stdout, stderr=stderr
            )
        process = Process(popen, env, out, err)
        started.append(process)
        return process

    yield run
    for process in started:
        if process.popen.poll() is None:
            process.popen.kill()
            process.popen.wait(timeout=10)


def migrate(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "users", "migrate", *command],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


@pytest.mark.postgres_direct_only("migrations run direct: see the test after this one")
def test_migrate_up_status_down(postgres_db: PostgresDatabase) -> None:
    env = environment(postgres_db.name)

    up = migrate(env, "up")
    status = migrate(env, "status")
    down = migrate(env, "down")
    after = migrate(env, "status")

    assert up.returncode == 0, up.stderr
    # goose's words on stderr (issue 15); 3: the users table, the outbox, its parking
    assert up.stderr.count(" OK   ") == 3
    assert "create_users" in status.stderr
    assert "Pending" not in status.stderr
    assert down.returncode == 0, down.stderr
    assert "svcinfra_outbox_parking" in down.stderr
    assert after.stderr.count("Pending") == 1
    everything = up.stdout + up.stderr + status.stdout + status.stderr + down.stdout + down.stderr
    assert DB_PASSWORD not in everything


@pytest.mark.parametrize("postgres_route", ["pgbouncer"], indirect=True)
def test_migrate_behind_the_pooler_exits_naming_the_setting(postgres_db: PostgresDatabase) -> None:
    """`users migrate up` configured for pgbouncer refuses (its advisory lock would not hold)
    and says how to run it: direct, with POSTGRES_POOLER=none."""
    pooled = migrate(environment_for(postgres_db), "up")
    assert pooled.returncode != 0
    assert "POSTGRES_POOLER=transaction" in pooled.stderr
    assert "direct connection" in pooled.stderr
    sneaked = migrate(environment_for(postgres_db, USERS_POSTGRES_POOLER=None), "up")
    assert sneaked.returncode != 0
    assert "is a connection pooler" in sneaked.stderr
    assert migrate(environment(postgres_db.name), "status").stderr.count("Pending") == 3


@pytest.mark.parametrize("command", ["serve", "relay"])
def test_a_broken_environment_exits_78_listing_every_problem(command: str, tmp_path: Path) -> None:
    env = environment(
        "users",
        USERS_POSTGRES_DB=None,
        API_PORT="eighty",
        USERS_REDIS_PORT="99999",
        ENV="nowhere",
        USERS_POSTGRES_PASWORD="typo",  # noqa: S106  (a misspelt name, not a secret)
    )

    done = subprocess.run(
        [sys.executable, "-m", "users", command],
        env=env, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 78
    for variable in (
        "USERS_POSTGRES_DB",
        "API_PORT",
        "USERS_REDIS_PORT",
        "ENV",
        "USERS_POSTGRES_PASWORD",
    ):
        assert variable in done.stderr, done.stderr
    assert DB_PASSWORD not in done.stdout + done.stderr
    assert "typo" not in done.stderr


@pytest.fixture
async def postgres_proxy(postgres_db: PostgresDatabase) -> AsyncIterator[FaultProxy]:
    async with FaultProxy("127.0.0.1", postgres_db.service_port) as proxy:
        yield proxy


@pytest.fixture
async def migrated_db(postgres_db: PostgresDatabase) -> PostgresDatabase:
    done = await asyncio.to_thread(migrate, environment(postgres_db.name), "up")
    assert done.returncode == 0, done.stderr
    return postgres_db


async def test_serve_follows_postgres_and_recovers_without_a_restart(
    start: Callable[..., Process],
    migrated_db: PostgresDatabase,
    postgres_proxy: FaultProxy,
) -> None:
    env = environment_for(
        migrated_db,
        USERS_POSTGRES_PORT=str(postgres_proxy.port),
        USERS_REDIS_PORT=str(free_port()),  # nothing listens there: the cache fails open
    )
    serve = start("serve", env=env)
    await serve.wait_ready()
    async with httpx.AsyncClient(base_url=serve.api, timeout=10) as api:
        created = await api.post(USERS, json=ADA)
        assert created.status_code == 201
        assert (await api.get(created.headers["location"])).status_code == 200  # Redis down

        await postgres_proxy.refuse()
        postgres_proxy.reset_all()
        down = await api.post(USERS, json=ADA | {"email": "b@example.com", "username": "bob"})
        assert down.status_code == 503
        assert down.headers["retry-after"] == "1"

        async def not_ready() -> bool:
            return await serve.readyz() == 503

        await serve.wait_for(not_ready, "readyz 503 with Postgres down")

        await postgres_proxy.accept()
        await serve.wait_ready()
        again = await api.post(USERS, json=ADA | {"email": "b@example.com", "username": "bob"})
        assert again.status_code == 201

        metrics = await api.get(f"{serve.tech}/metrics")
        assert "users_http_request_duration_seconds_count" in metrics.text
        assert "svcinfra_cache_lookups_total" in metrics.text

    assert await serve.stop() == 0
    assert serve.entries()  # JSON lines only
    assert DB_PASSWORD not in serve.output()


async def test_sigterm_drains_the_request_in_flight(
    start: Callable[..., Process],
    migrated_db: PostgresDatabase,
    postgres_proxy: FaultProxy,
) -> None:
    serve = start(
        "serve", env=environment_for(migrated_db, USERS_POSTGRES_PORT=str(postgres_proxy.port))
    )
    await serve.wait_ready()
    limits = httpx.Limits(max_connections=1)  # one keep-alive connection, open before the stall
    async with httpx.AsyncClient(base_url=serve.api, timeout=20, limits=limits) as api:
        assert (await api.get(f"{USERS}/{uuid.uuid4()}")).status_code == 404
        postgres_proxy.stall()
        pending = asyncio.create_task(api.post(USERS, json=ADA))
        await asyncio.sleep(0.5)  # the request is written to the open connection; give it time
        serve.popen.send_signal(signal.SIGTERM)

        async def stopping() -> bool:
            return await serve.readyz() in {503, None}

        await serve.wait_for(stopping, "readiness to drop on SIGTERM")
        postgres_proxy.unstall()
        response = await pending

    assert response.status_code == 201
    assert await asyncio.to_thread(serve.popen.wait, 30) == 0
    assert "service stopped" in [e["event"] for e in serve.entries()]


@pytest.fixture
def vhost(amqp_server: str, amqp_names: str) -> Iterator[str]:
    """A virtual host of this test: the relay declares the real `users.events` in it."""
    del amqp_server
    name = f"users-{amqp_names}"
    for args in (["add_vhost", name], ["set_permissions", "-p", name, "guest", ".*", ".*", ".*"]):
        subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60)
    yield name
    subprocess.run(
        ["rabbitmqctl", "delete_vhost", name], check=True, capture_output=True, timeout=60
    )


@pytest.mark.rabbitmq
async def test_relay_publishes_what_serve_committed(
    start: Callable[..., Process], migrated_db: PostgresDatabase, vhost: str
) -> None:
    """With the writer's publish off, every event goes the relay's way (NOTIFY, claim)."""
    env = environment_for(
        migrated_db, USERS_RABBITMQ_VHOST=vhost, OUTBOX_RELAY_WRITER_PUBLISH="false"
    )
    relay = start("relay", env=env | {"TECH_PORT": str(free_port())})
    await relay.wait_ready()
    connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:5672/{vhost}")
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue("probe", exclusive=True)
        await queue.bind("users.events", routing_key="user.#")
        serve = start("serve", env=env)
        await serve.wait_ready()
        async with httpx.AsyncClient(base_url=serve.api, timeout=10) as api:
            user = (await api.post(USERS, json=ADA)).json()

        while (message := await queue.get(fail=False)) is None:  # noqa: ASYNC110  (basic.get polls)
            await asyncio.sleep(0.05)  # the test's timeout bounds the wait
        await message.ack()

    assert message.type == "user.registered.v1"
    assert json.loads(message.body)["user_id"] == user["id"]
    assert uuid.UUID(message.message_id or "")
    assert await relay.stop() == 0
    assert await serve.stop() == 0
    assert DB_PASSWORD not in relay.output() + serve.output()


def metric_total(metrics: str, name: str) -> float:
    """The sum of a counter's samples on a /metrics page."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == name
    )


async def next_message(queue: aio_pika.abc.AbstractQueue) -> aio_pika.abc.AbstractIncomingMessage:
    while (message := await queue.get(fail=False)) is None:  # noqa: ASYNC110  (basic.get polls)
        await asyncio.sleep(0.05)  # the test's timeout bounds the wait
    await message.ack()
    return message


@pytest.mark.rabbitmq
async def test_serve_publishes_its_events_at_commit_and_the_relay_covers_a_broker_it_lost(
    start: Callable[..., Process], migrated_db: PostgresDatabase, vhost: str
) -> None:
    """Issue 19: `users serve` publishes the event it commits itself (the relay sends none);
    with its broker connection cut and refused, it still answers 201 and stays ready, and the
    relay sends that event instead."""
    async with FaultProxy("127.0.0.1", 5672) as proxy:
        env = environment_for(migrated_db, USERS_RABBITMQ_VHOST=vhost)
        relay = start("relay", env=env | {"TECH_PORT": str(free_port())})
        await relay.wait_ready()  # it declares users.events
        connection = await aio_pika.connect(f"amqp://guest:guest@127.0.0.1:5672/{vhost}")
        async with connection:
            channel = await connection.channel()
            queue = await channel.declare_queue("probe", exclusive=True)
            await queue.bind("users.events", routing_key="user.#")
            serve = start("serve", env=env | {"USERS_RABBITMQ_PORT": str(proxy.port)})
            await serve.wait_ready()

            async def connected() -> bool:
                return any(e["event"] == "amqp publisher connected" for e in serve.entries())

            await serve.wait_for(connected, "its publisher connected")
            async with httpx.AsyncClient(base_url=serve.api, timeout=10) as api:
                ada = (await api.post(USERS, json=ADA)).json()
                first = await next_message(queue)
                async with httpx.AsyncClient(timeout=5) as tech:
                    by_serve = (await tech.get(f"{serve.tech}/metrics")).text
                    by_relay = (await tech.get(f"{relay.tech}/metrics")).text
                await proxy.refuse()
                proxy.reset_all()
                bob = {"email": "bob@example.com", "username": "bob", "display_name": "Bob"}
                answer = await api.post(USERS, json=bob)
                second = await next_message(queue)
                assert await serve.readyz() == 200
            async with httpx.AsyncClient(timeout=5) as tech:
                by_relay_after = (await tech.get(f"{relay.tech}/metrics")).text

    assert json.loads(first.body)["user_id"] == ada["id"]
    assert metric_total(by_serve, "svcinfra_amqp_outbox_dispatched_total") == 1
    assert metric_total(by_relay, "svcinfra_amqp_outbox_relayed_total") == 0
    assert answer.status_code == 201
    assert json.loads(second.body)["user_id"] == answer.json()["id"]
    assert metric_total(by_relay_after, "svcinfra_amqp_outbox_relayed_total") == 1
    assert await relay.stop() == 0
    assert await serve.stop() == 0
    assert DB_PASSWORD not in relay.output() + serve.output()


def near_hits(metrics: str) -> float:
    """The near-cache hits of the profile cache on a /metrics page."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    return sum(
        sample.value
        for family in text_string_to_metric_families(metrics)
        for sample in family.samples
        if sample.name == "svcinfra_cache_near_total" and sample.labels.get("event") == "hit"
    )


async def test_an_update_through_one_process_replaces_the_others_cached_body(
    start: Callable[..., Process], migrated_db: PostgresDatabase
) -> None:
    """A replica answers a near-cache hit with the body kept with the profile (issue 19); a
    change made through another replica must replace it: within the invalidation bound the GET
    answers the new body, byte for byte what the PATCH answered, and never the old one again.
    """
    writer = start("serve", env=environment_for(migrated_db))
    reader = start("serve", env=environment_for(migrated_db))
    await writer.wait_ready()
    await reader.wait_ready()
    loop = asyncio.get_running_loop()
    async with httpx.AsyncClient(timeout=10) as http:
        created = await http.post(f"{writer.api}{USERS}", json=ADA)
        assert created.status_code == 201
        path = created.headers["location"]
        hits = near_hits((await http.get(f"{reader.tech}/metrics")).text)
        old = created.content
        while near_hits((await http.get(f"{reader.tech}/metrics")).text) == hits:
            got = await http.get(f"{reader.api}{path}")  # load, fill, then hit the near layer
            assert got.content == old
            await asyncio.sleep(0.01)
        hits = near_hits((await http.get(f"{reader.tech}/metrics")).text)
        for version in range(20):
            patched = await http.patch(
                f"{writer.api}{path}", json={"display_name": f"Ada «v{version}» ☃"}
            )
            assert patched.status_code == 200
            deadline = loop.time() + 10  # against the cache's 300 s TTL: only invalidation
            while (got := await http.get(f"{reader.api}{path}")).content != patched.content:
                assert got.content == old, got.text  # the old body or the new, nothing else
                assert loop.time() < deadline, "the reader kept answering the old body"
                await asyncio.sleep(0.002)
            for _ in range(5):  # then never the old one again, near hits included
                assert (await http.get(f"{reader.api}{path}")).content == patched.content
            assert got.headers["content-type"] == patched.headers["content-type"]
            old = patched.content
        # the near layer answered in between: the fast path was exercised
        assert near_hits((await http.get(f"{reader.tech}/metrics")).text) > hits + 20
    assert await writer.stop() == 0
    assert await reader.stop() == 0
