"""Shared pieces of the notifications tests: environments, events, the broker and the database.

Each test gets its own database (`postgres_db`) and its own exchange and queue names: the
service's contract is loaded with the test's `amqp_names` prefix and short retry tiers, exactly
as `CONSUMER_TOPOLOGY_PREFIX` and `CONSUMER_RETRY_BACKOFF` make the real process do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aio_pika
import httpx
from aiormq import spec
from notifications.cli import migrations_folder

from svcinfra.httpclient.testing import Reply
from svcinfra.postgres.migrate import Migrator, load_migrations

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
REGISTERED = "user.registered.v1"
SENT = "notification.sent.v1"
TEST_BACKOFF = "100ms,200ms,300ms"


def registered(**change: object) -> dict[str, object]:
    """A valid `user.registered.v1` payload (the users service's shape)."""
    return {
        "user_id": str(uuid.uuid4()),
        "email": "ada@example.com",
        "username": "ada",
        "display_name": "Ada Lovelace",
        "registered_at": "2026-11-26T08:00:00Z",
    } | change


def accepted(provider_id: str, *, status: int = 202, **headers: str) -> Reply:
    """The mail API's acceptance (202), or its replay (200 + Idempotent-Replayed)."""
    body = {"id": provider_id, "to": "ada@example.com", "accepted_at": "2026-11-26T08:00:01Z"}
    return Reply.json(body, status=status, **headers)


def environ(
    *,
    prefix: str,
    dbname: str,
    mail_url: str,
    api_key: str,
    pg_port: int = 5432,
    tech_port: int = 0,
    **extra: str,
) -> dict[str, str]:
    """A complete, valid environment of `notifications` for the loopback servers."""
    env = {
        "ENV_PREFIX": "NOTIFICATIONS_",
        "SERVICE_NAME": "notifications",
        "ENV": "dev",
        "SHUTDOWN_TIMEOUT": "20",
        "HTTP_HOST": "127.0.0.1",
        "TECH_PORT": str(tech_port or free_port()),
        "API_PORT": str(free_port()),
        "LOG_LEVEL": "INFO",
        "NOTIFICATIONS_POSTGRES_HOST": "127.0.0.1",
        "NOTIFICATIONS_POSTGRES_PORT": str(pg_port),
        "NOTIFICATIONS_POSTGRES_USER": "postgres",
        # Trust auth on the loopback server: any generated password is accepted.
        "NOTIFICATIONS_POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "NOTIFICATIONS_POSTGRES_DB": dbname,
        "NOTIFICATIONS_POSTGRES_SSLMODE": "disable",
        "NOTIFICATIONS_POSTGRES_CONNECT_TIMEOUT": "2",
        "NOTIFICATIONS_RABBITMQ_HOST": "127.0.0.1",
        "NOTIFICATIONS_RABBITMQ_USER": "guest",
        "NOTIFICATIONS_RABBITMQ_PASSWORD": "guest",
        "NOTIFICATIONS_MAIL_API_BASE_URL": mail_url,
        "NOTIFICATIONS_MAIL_API_API_KEY": api_key,
        "NOTIFICATIONS_MAIL_API_CONNECT_TIMEOUT": "0.5",
        "NOTIFICATIONS_MAIL_API_READ_TIMEOUT": "0.5",
        "NOTIFICATIONS_MAIL_API_WRITE_TIMEOUT": "0.5",
        "NOTIFICATIONS_MAIL_API_POOL_TIMEOUT": "0.5",
        "NOTIFICATIONS_MAIL_API_DEADLINE": "2",
        "NOTIFICATIONS_MAIL_API_RETRY_BACKOFF_INITIAL": "0.01",
        "NOTIFICATIONS_MAIL_API_RETRY_BACKOFF_MAX": "0.05",
        "NOTIFICATIONS_MAIL_API_RETRY_AFTER_MAX": "1",
        "NOTIFICATIONS_MAIL_API_BREAKER_THRESHOLD": "100",
        "CONSUMER_TOPOLOGY_PREFIX": prefix,
        "CONSUMER_RETRY_BACKOFF": TEST_BACKOFF,
        "CONSUMER_HANDLER_TIMEOUT": "10",
        "CONSUMER_DRAIN_TIMEOUT": "10",
    }
    return env | extra


def free_port() -> int:
    """A TCP port free on loopback now."""
    import socket  # noqa: PLC0415

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def migrate(dsn: str) -> None:
    """Apply the service's migrations (deliveries, outbox, inbox)."""
    await Migrator(load_migrations(migrations_folder()), dsn).up()


@dataclass
class Broker:
    """The test's view of the broker: publish as the users service, read the service's queues."""

    prefix: str
    connection: aio_pika.abc.AbstractConnection

    @property
    def users_exchange(self) -> str:
        return f"{self.prefix}.users.events"

    @property
    def sent_exchange(self) -> str:
        return f"{self.prefix}.notifications.events"

    @property
    def queue(self) -> str:
        return f"{self.prefix}.notifications.user-registered"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.notifications.user-registered.dlq"

    @property
    def sent_queue(self) -> str:
        """A queue of the test's, bound to notification.sent.v1."""
        return f"{self.prefix}.test.sent"

    async def bind_sent_queue(self) -> None:
        """Declare the test's queue of `notification.sent.v1` and bind it."""
        channel = await self.connection.channel()
        exchange = await channel.declare_exchange(
            self.sent_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(self.sent_queue, durable=False, auto_delete=False)
        await queue.bind(exchange, SENT)
        await channel.close()

    async def publish(
        self,
        body: bytes | dict[str, object],
        *,
        message_id: str | None = None,
        message_type: str = REGISTERED,
        content_type: str = "application/json",
    ) -> str:
        """Publish to users.events as the users service would; return the message_id."""
        mid = message_id or str(uuid.uuid4())
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        channel = await self.connection.channel()
        underlay = await channel.get_underlay_channel()
        await underlay.basic_publish(
            raw,
            exchange=self.users_exchange,
            routing_key=REGISTERED,
            properties=spec.Basic.Properties(
                message_id=mid,
                content_type=content_type,
                message_type=message_type,
                headers={"message-version": 1},
                delivery_mode=2,
            ),
            mandatory=True,
        )
        await channel.close()
        return mid

    async def take(self, queue: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Every message now in `queue`, acked (removed)."""
        channel = await self.connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        messages = []
        while (message := await declared.get(fail=False)) is not None:
            await message.ack()
            messages.append(message)
        await channel.close()
        return messages

    async def wait_for(
        self, queue: str, count: int = 1, *, timeout: float = 30.0
    ) -> list[aio_pika.abc.AbstractIncomingMessage]:
        """Wait until `count` messages were taken from `queue`; return them."""
        taken: list[aio_pika.abc.AbstractIncomingMessage] = []
        async with asyncio.timeout(timeout):
            while len(taken) < count:
                taken += await self.take(queue)
                if len(taken) < count:
                    await asyncio.sleep(0.02)
        return taken

    async def delete_all(self, *, backoff: str = TEST_BACKOFF) -> None:
        """Delete every queue and exchange under the test's prefix.

        `backoff` is the `CONSUMER_RETRY_BACKOFF` the service ran with: one retry queue per tier.
        """
        tiers = dict.fromkeys(tier.strip() for tier in backoff.split(","))
        channel = await self.connection.channel()
        for name in (
            self.queue,
            self.dlq,
            *(f"{self.queue}.retry.{tier}" for tier in tiers),
            self.sent_queue,
        ):
            await channel.queue_delete(name)
        for name in (self.users_exchange, self.sent_exchange):
            await channel.exchange_delete(name)
        await channel.close()


def counted(metric: str, **labels: str) -> float:
    """The sum of a Prometheus counter's samples whose labels include `labels`."""
    from prometheus_client import REGISTRY  # noqa: PLC0415

    total = 0.0
    for family in REGISTRY.collect():
        for sample in family.samples:
            if sample.name == metric and labels.items() <= sample.labels.items():
                total += sample.value
    return total


async def until(condition: Callable[[], Any], *, timeout: float = 30.0) -> None:
    """Wait until `condition()` (sync or async) holds."""
    async with asyncio.timeout(timeout):
        while True:
            result = condition()
            if asyncio.iscoroutine(result):
                result = await result
            if result:
                return
            await asyncio.sleep(0.02)


COMMAND = shutil.which("fake-mail", path=str(Path(sys.executable).parent))
FAKE_MAIL_PORTS = range(17700, 17800)  # fake-mail processes of these tests


def _fake_mail_port() -> int:
    for port in FAKE_MAIL_PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in {FAKE_MAIL_PORTS}")


@dataclass
class FakeMail:
    """A running `fake-mail serve`: its API and key; its record through its own HTTP API."""

    api: str
    key: str

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api, headers={"Authorization": f"Bearer {self.key}"}, timeout=5
        )

    def messages(self) -> list[dict[str, object]]:
        with self.client() as client:
            return list(client.get("/v1/messages").json()["messages"])


@contextlib.contextmanager
def fake_mail(**extra: str) -> Iterator[FakeMail]:
    """Run `fake-mail serve` on ports of this suite's range until the block ends."""
    assert COMMAND is not None, "the fake-mail console script is not installed in the venv"
    key = secrets.token_urlsafe(24)
    api_port = _fake_mail_port()
    with socket.socket() as hold:  # keep the API port taken while the tech port is chosen
        hold.bind(("127.0.0.1", api_port))
        tech_port = _fake_mail_port()
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("FAKE_MAIL_", "API_"))}
    environ |= {
        "SERVICE_NAME": "fake-mail",
        "ENV": "dev",
        "HTTP_HOST": "127.0.0.1",
        "API_PORT": str(api_port),
        "TECH_PORT": str(tech_port),
        "ENV_PREFIX": "FAKE_MAIL_",  # its secret is read under its prefix (CF-4)
        "FAKE_MAIL_API_KEY": key,
        "SHUTDOWN_TIMEOUT": "10",
        "HTTP_DRAIN_DELAY": "0",
        **extra,
    }
    process = subprocess.Popen(
        [COMMAND, "serve"], env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        for _ in range(300):
            assert process.poll() is None, process.communicate()[1]
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{tech_port}/health/readyz").status_code == 200:
                    break
            time.sleep(0.05)
        else:
            raise AssertionError("fake-mail did not become ready")
        yield FakeMail(f"http://127.0.0.1:{api_port}", key)
    finally:
        process.terminate()
        process.communicate(timeout=15)
