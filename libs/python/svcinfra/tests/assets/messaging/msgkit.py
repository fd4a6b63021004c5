"""Shared pieces of the messaging tests and their subprocesses: a service's broker and database.

Imported by the test modules (after putting this folder on sys.path) and by the process scripts
beside it (whose folder Python puts on sys.path itself).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import uuid
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aio_pika
from aiormq import spec
from pydantic import SecretStr

from svcinfra.config import PostgresSettings
from svcinfra.messaging import declare_topology
from svcinfra.messaging.contract import Contract, contract_from_document, read_document
from svcinfra.messaging.storage import write_migrations
from svcinfra.messaging.topology import Topology
from svcinfra.postgres import Database, load_queries
from svcinfra.postgres.migrate import Migrator, load_migrations

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from svcinfra.messaging.consumer import Delivery
    from svcinfra.postgres import Transaction

HERE = Path(__file__).parent
AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
REGISTERED = "user.registered.v1"
DELETED = "user.deleted.v1"


def registered(**change: object) -> dict[str, object]:
    """A valid `user.registered.v1` payload."""
    return {
        "user_id": str(uuid.uuid4()),
        "email": "ada@example.com",
        "registered_at": "2026-11-26T08:00:00Z",
    } | change


def deleted() -> dict[str, object]:
    """A valid `user.deleted.v1` payload."""
    return {"user_id": str(uuid.uuid4()), "deleted_at": "2026-11-26T08:00:00Z"}


def contract_text(prefix: str) -> str:
    """The test service's contract (YAML) with its exchange and queues under `prefix`."""
    text = (HERE / "service.yaml").read_text(encoding="utf-8")
    return text.replace("users.events", f"{prefix}.users.events").replace(
        "svc.work", f"{prefix}.svc.work"
    )


def contract(prefix: str) -> Contract:
    """The test service's contract with its exchange and queues under `prefix`."""
    return contract_from_document(read_document(contract_text(prefix)), source="service.yaml")


def settings(dbname: str, **overrides: object) -> PostgresSettings:
    """Settings for the loopback server's database `dbname` (trust auth)."""
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "user": "postgres",
        "password": SecretStr(""),
        "db": dbname,
        "sslmode": "disable",
        "pool_min_size": 1,
        "pool_max_size": 8,
    }
    return PostgresSettings.model_validate(values | overrides)


def effects_queries() -> Any:  # noqa: ANN401  (Queries; the fixture package is on sys.path)
    """The fixture service's `effects` queries."""
    return load_queries("msgfixture")


async def migrate(dsn: str, folder: Path) -> None:
    """Apply the outbox, inbox and effects migrations, as a service including them would."""
    folder.mkdir(parents=True, exist_ok=True)
    write_migrations(folder)
    for source in (HERE / "msgfixture" / "migrations").glob("*.sql"):
        shutil.copy(source, folder / source.name)
    await Migrator(load_migrations(folder), dsn).up()


def make_recorder(queries: Any) -> Callable[..., Any]:  # noqa: ANN401
    """A transactional handler that records one effect row per call."""
    add = queries.query("effects__add")

    async def handler(tx: Transaction, delivery: Delivery) -> None:
        await tx.exec(
            add, delivery.consumer, delivery.message_id, delivery.name, delivery.attempt, None
        )

    return handler


@dataclass
class Service:
    """The test's broker topology and database: what a service using the layer has."""

    prefix: str
    dbname: str
    connection: aio_pika.abc.AbstractConnection
    db: Database
    contract: Contract = field(init=False)

    def __post_init__(self) -> None:
        self.contract = contract(self.prefix)

    @property
    def exchange(self) -> str:
        return f"{self.prefix}.users.events"

    @property
    def queue(self) -> str:
        return f"{self.prefix}.svc.work"

    @property
    def dlq(self) -> str:
        return f"{self.prefix}.svc.work.dlq"

    async def publish_raw(
        self,
        body: bytes,
        *,
        routing_key: str = REGISTERED,
        message_id: str | None = "auto",
        content_type: str | None = "application/json",
        message_type: str | None = REGISTERED,
        headers: dict[str, Any] | None = None,
    ) -> str | None:
        """Publish bytes as a foreign producer would; return the message_id."""
        mid = str(uuid.uuid4()) if message_id == "auto" else message_id
        channel = await self.connection.channel()
        # The driver's channel: aio_pika.Message would invent a message_id when there is none.
        underlay = await channel.get_underlay_channel()
        await underlay.basic_publish(
            body,
            exchange=self.exchange,
            routing_key=routing_key,
            properties=spec.Basic.Properties(
                message_id=mid,
                content_type=content_type,
                message_type=message_type,
                headers=headers or {},
                delivery_mode=2,
            ),
            mandatory=True,
        )
        await channel.close()
        return mid

    async def publish_json(self, payload: dict[str, object], **options: Any) -> str | None:  # noqa: ANN401
        """Publish a JSON payload as a foreign producer would."""
        return await self.publish_raw(json.dumps(payload).encode(), **options)

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

    async def depth(self, queue: str) -> int:
        """Messages ready in `queue`."""
        channel = await self.connection.channel()
        declared = await channel.declare_queue(queue, passive=True)
        await channel.close()
        return int(declared.declaration_result.message_count or 0)

    async def effects(self) -> dict[str, int]:
        """Effect rows per message_id."""
        rows = await self.db.many(effects_queries().query("effects__by_message"), row=_Count)
        return {row.message_id: row.n for row in rows}


@dataclass(frozen=True, slots=True)
class _Count:
    message_id: str
    n: int


@asynccontextmanager
async def service(
    prefix: str, dbname: str, tmp: Path, *, url: str = AMQP_URL
) -> AsyncIterator[Service]:
    """Declare the topology and migrate the database; delete the topology afterwards."""
    await migrate(f"postgresql://postgres@127.0.0.1:5432/{dbname}", tmp / "migrations")
    db = await Database.connect(settings(dbname))
    connection = await aio_pika.connect(url)
    try:
        svc = Service(prefix, dbname, connection, db)
        topology = Topology.from_contract(svc.contract)
        await declare_topology(connection, topology)
        try:
            yield svc
        finally:
            channel = await connection.channel()
            for queue in topology.queues:
                await channel.queue_delete(queue.name)
            await channel.exchange_delete(svc.exchange)
    finally:
        await connection.close()
        await db.close()


async def until(condition: Callable[[], Any], *, interval: float = 0.01) -> None:
    """Wait until `condition()` (sync or async) holds; the test's timeout bounds the wait."""
    while True:
        result = condition()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        await asyncio.sleep(interval)


def close_connections_named(marker: str) -> int:
    """Close, through rabbitmqctl, the broker connections whose client name contains `marker`."""
    listing = subprocess.run(
        ["rabbitmqctl", "list_connections", "pid", "client_properties", "-q", "--no-table-headers"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    pids = [
        line.split("\t", 1)[0]
        for line in listing.stdout.splitlines()
        if f'{{"connection_name","' in line and marker in line
    ]
    for pid in pids:
        subprocess.run(
            ["rabbitmqctl", "close_connection", pid, "svcinfra test: closed by the broker"],
            capture_output=True, check=True, timeout=60,
        )  # fmt: skip
    return len(pids)
