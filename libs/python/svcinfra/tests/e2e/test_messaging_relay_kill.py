"""An outbox relay killed between publishing and marking: re-published, one effect downstream."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest
from prometheus_client import REGISTRY

from svcinfra.messaging import Publisher
from svcinfra.messaging.consumer import Consumer
from svcinfra.messaging.outbox import Outbox, Relay

KIT = Path(__file__).parents[1] / "assets" / "messaging"
if str(KIT) not in sys.path:
    sys.path.insert(0, str(KIT))
import msgkit  # noqa: E402  (the kit's folder is put on sys.path above)

pytestmark = [pytest.mark.e2e, pytest.mark.rabbitmq, pytest.mark.postgres]


@pytest.fixture(name="svc")
async def _svc(amqp_server: str, amqp_names: str, postgres_db, tmp_path: Path):
    async with msgkit.service(amqp_names, postgres_db.name, tmp_path, url=amqp_server) as svc:
        yield svc


@pytest.fixture(name="relay_process")
def _relay_process(svc, tmp_path: Path):
    stderr = (tmp_path / "relay.stderr").open("w")
    process = subprocess.Popen(
        [sys.executable, str(KIT / "relay_process.py"), svc.prefix, svc.dbname],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
    )
    yield process
    stderr.close()
    if process.poll() is None:
        process.kill()
    process.wait(timeout=10)
    assert process.stdout is not None
    process.stdout.close()


async def test_a_relay_killed_between_publish_and_mark_gives_one_effect(
    svc, relay_process: subprocess.Popen[str]
) -> None:
    """The killed relay's batch is published again by the next relay; the inbox keeps one effect."""
    outbox = Outbox(svc.contract)
    async with svc.db.transaction() as tx:
        ids = [await outbox.add(tx, msgkit.REGISTERED, msgkit.registered()) for _ in range(5)]
    assert relay_process.stdout is not None
    line = ""
    while not line.startswith("PUBLISHED"):
        line = await asyncio.to_thread(relay_process.stdout.readline)
        assert line, "the relay process ended before publishing"
    relay_process.send_signal(signal.SIGKILL)
    assert relay_process.wait(timeout=10) == -signal.SIGKILL
    assert line.split() == ["PUBLISHED", *sorted(ids)]
    assert await svc.depth(svc.queue) == 5

    consumer = Consumer(svc.contract, svc.db, url=msgkit.AMQP_URL, name=f"{svc.prefix}-consumer")
    record = msgkit.make_recorder(msgkit.effects_queries())
    consumer.on(msgkit.REGISTERED, record)
    consumer.on(msgkit.DELETED, record)

    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        relay = Relay(svc.db, publisher, poll_interval=0.1)
        tasks = [asyncio.create_task(consumer.run()), asyncio.create_task(relay.run())]
        await msgkit.until(lambda: _sent(svc))
        await msgkit.until(lambda: _consumed(svc, 10))
        relay.stop()
        consumer.stop()
        await asyncio.gather(*tasks)

    assert await svc.effects() == dict.fromkeys(ids, 1)
    assert _acked(svc, "duplicate") == 5  # the re-published copies, absorbed by the inbox
    assert await svc.depth(svc.queue) == 0


async def _sent(svc: msgkit.Service) -> bool:
    query = "SELECT count(*) FROM svcinfra_outbox WHERE sent_at IS NULL"
    con = await asyncpg.connect(f"postgresql://postgres@127.0.0.1/{svc.dbname}")
    try:
        return await con.fetchval(query) == 0
    finally:
        await con.close()


def _acked(svc: msgkit.Service, outcome: str) -> float:
    labels = {"message": msgkit.REGISTERED, "queue": svc.queue, "outcome": outcome}
    return REGISTRY.get_sample_value("svcinfra_amqp_messages_acked_total", labels) or 0.0


async def _consumed(svc: msgkit.Service, count: int) -> bool:
    acked = _acked(svc, "processed") + _acked(svc, "duplicate")
    return acked >= count and await svc.depth(svc.queue) == 0
