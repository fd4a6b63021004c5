"""A consumer process killed with SIGKILL in the middle of a handler: redelivered, one effect."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from svcinfra.messaging.consumer import Consumer

KIT = Path(__file__).parents[1] / "assets" / "messaging"
if str(KIT) not in sys.path:
    sys.path.insert(0, str(KIT))
import msgkit  # noqa: E402  (the kit's folder is put on sys.path above)

pytestmark = [pytest.mark.e2e, pytest.mark.rabbitmq, pytest.mark.postgres]


@pytest.fixture(name="svc")
async def _svc(amqp_server: str, amqp_names: str, postgres_db, tmp_path: Path):
    async with msgkit.service(amqp_names, postgres_db.name, tmp_path, url=amqp_server) as svc:
        yield svc


@pytest.fixture(name="spawn")
def _spawn(tmp_path: Path):
    """Start a script of the kit as a process; every process is killed at the end."""
    started: list[subprocess.Popen[str]] = []
    stderr = (tmp_path / "stderr.txt").open("w")

    def spawn(script: str, *args: str) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, str(KIT / script), *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
        started.append(process)
        return process

    yield spawn
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
    stderr.close()


async def line_starting(process: subprocess.Popen[str], prefix: str) -> str:
    """The first line of the process's output that starts with `prefix`."""
    assert process.stdout is not None
    while True:
        line = await asyncio.to_thread(process.stdout.readline)
        if not line:
            pytest.fail(f"the process ended (exit {process.wait()}) before printing {prefix!r}")
        if line.startswith(prefix):
            return line.strip()


async def test_a_consumer_killed_mid_handler_loses_nothing_and_applies_once(svc, spawn) -> None:
    """SIGKILL while the handler holds its transaction: redelivered to the next, applied once."""
    process = spawn("consumer_process.py", svc.prefix, svc.dbname)
    mid = await svc.publish_json(msgkit.registered())

    line = await line_starting(process, "IN_HANDLER")
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL

    assert line == f"IN_HANDLER {mid}"
    assert await svc.effects() == {}
    consumer = Consumer(svc.contract, svc.db, url=msgkit.AMQP_URL, name=f"{svc.prefix}-consumer")
    seen: list[bool] = []
    record = msgkit.make_recorder(msgkit.effects_queries())

    async def handler(tx, delivery) -> None:
        seen.append(delivery.redelivered)
        await record(tx, delivery)

    consumer.on(msgkit.REGISTERED, handler)
    consumer.on(msgkit.DELETED, handler)
    task = asyncio.create_task(consumer.run())
    await msgkit.until(svc.effects)
    consumer.stop()
    await task

    assert await svc.effects() == {mid: 1}
    assert seen == [True]
    assert await svc.depth(svc.queue) == 0


async def test_a_batching_consumer_killed_mid_stream_applies_each_message_once(svc, spawn) -> None:
    """SIGKILL with batches committed, acked or not, and one open: 200 ids, one effect each.

    The killed process batched 25 messages per transaction (a savepoint each); what it had
    not acked is redelivered to the next consumer, which finds the committed ones in the inbox
    (duplicates, no effect) and applies the rest, each once.
    """
    ids = [await svc.publish_json(msgkit.registered()) for _ in range(200)]
    process = spawn("batch_consumer_process.py", svc.prefix, svc.dbname)
    await line_starting(process, "HANDLED 60")
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=10) == -signal.SIGKILL

    applied = await svc.effects()
    assert 0 < len(applied) < 200  # some batches had committed, the rest was left
    assert set(applied.values()) == {1}
    consumer = Consumer(svc.contract, svc.db, url=msgkit.AMQP_URL, name=f"{svc.prefix}-consumer",
                        prefetch=50)  # fmt: skip
    consumer.on(msgkit.REGISTERED, msgkit.make_recorder(msgkit.effects_queries()))
    consumer.on(msgkit.DELETED, msgkit.make_recorder(msgkit.effects_queries()))
    task = asyncio.create_task(consumer.run())
    await msgkit.until(lambda: _all_applied(svc, 200))
    consumer.stop()
    await task

    assert await svc.effects() == dict.fromkeys(ids, 1)
    assert await svc.depth(svc.queue) == 0


async def _all_applied(svc: msgkit.Service, count: int) -> bool:
    return len(await svc.effects()) >= count
