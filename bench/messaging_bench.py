"""Benchmark: `svcinfra.messaging.Publisher` vs raw aio-pika publishing, alternating in one run.

Both publish persistent ~200-byte JSON messages to the same durable topic exchange, bound to one
durable queue, on RabbitMQ at 127.0.0.1:5672, with publisher confirms and `mandatory`, keeping
the same number of unconfirmed messages in flight (the confirm window: 1 = each publish awaited
before the next; 100 = batches of 100 concurrent publishes, each awaiting its own confirm).
Raw aio-pika JSON-encodes the payload and sets a message_id, persistence and the content type,
nothing else. Ours adds, per message, what MQ-2/4/5/6/11 ask for: a schema validation against
the contract (compiled once), a uuid4 message_id, type / version headers, correlation id and
timestamp, the confirm timeout, the trace context check (no tracer provider is configured here,
so no span is opened; with one, a PRODUCER span adds its own cost), five metric updates and the
retry loop's bookkeeping; logs go through the production JSON pipeline at INFO (the success
line is DEBUG, so it is dropped). The CPU columns are this process's CPU time per message.
Rounds alternate raw / ours so machine noise hits both; the table shows medians; the queue is
purged between rounds. FastStream is not installed: that comparison is left for later.

    .venv/bin/python bench/messaging_bench.py          # full run
    .venv/bin/python bench/messaging_bench.py --quick  # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

import aio_pika
import yaml

from svcinfra.messaging import Publisher, declare_topology
from svcinfra.messaging.contract import contract_from_document
from svcinfra.messaging.topology import Topology
from svcinfra.observability import configure_logging

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

URL = "amqp://guest:guest@127.0.0.1:5672/"
CONTRACT = (
    Path(__file__).parents[1] / "libs/python/svcinfra/tests/assets/asyncapi/good/notifications.yaml"
)
USERS = CONTRACT.with_name("users.yaml")
EVENT = "user.registered.v1"
PAYLOAD = {
    "user_id": "3b241101-e2bb-4255-8caf-4136c566a962",
    "email": "ada.lovelace@example.com",
    "display_name": "Ada Lovelace, Countess of Lovelace",
    "registered_at": "2026-11-26T08:00:00Z",
}


def _contract(name: Path, prefix: str) -> object:
    text = name.read_text(encoding="utf-8").replace("users.events", f"{prefix}.users.events")
    text = text.replace("notifications.user-events", f"{prefix}.notifications.user-events")
    return contract_from_document(yaml.safe_load(text), source=name.name)


async def _throughput(
    publish: Callable[[], Awaitable[object]], count: int, window: int
) -> tuple[float, float]:
    """Messages confirmed per second and this process's CPU microseconds per message.

    The CPU figure is steadier than wall time on a machine shared with the broker and other
    test runs, and it is what our layer adds to: the broker's work is not in it.
    """
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(count // window):
        await asyncio.gather(*(publish() for _ in range(window)))
    elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
    return count / elapsed, cpu_used / count * 1e6


Row = tuple[int, float, float, float, float]


async def _run(*, count: int, rounds: int, windows: list[int]) -> list[Row]:
    prefix = f"bench{os.getpid()}"
    consumer = _contract(CONTRACT, prefix)
    users = _contract(USERS, prefix)
    topology = Topology.from_contract(consumer)  # type: ignore[arg-type]
    connection = await aio_pika.connect(URL)
    rows = []
    async with connection:
        await declare_topology(connection, topology)
        admin = await connection.channel()
        queue = await admin.declare_queue(f"{prefix}.notifications.user-events", passive=True)
        raw_channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        raw_exchange = await raw_channel.get_exchange(f"{prefix}.users.events", ensure=False)

        async def raw() -> object:
            message = aio_pika.Message(
                json.dumps(PAYLOAD, separators=(",", ":")).encode(),
                message_id=str(uuid.uuid4()),
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                content_type="application/json",
            )
            return await raw_exchange.publish(message, EVENT, mandatory=True)

        try:
            async with Publisher(users, url=URL, name="bench") as publisher:  # type: ignore[arg-type]

                async def ours() -> object:
                    return await publisher.publish(EVENT, PAYLOAD, correlation_id="bench")

                await _throughput(raw, 200, 100)  # warm up both paths
                await _throughput(ours, 200, 100)
                for window in windows:
                    n = count if window > 1 else max(count // 4, 100)
                    raw_runs, our_runs = [], []
                    for _ in range(rounds):
                        await queue.purge()
                        raw_runs.append(await _throughput(raw, n, window))
                        await queue.purge()
                        our_runs.append(await _throughput(ours, n, window))
                    rows.append(
                        (
                            window,
                            statistics.median(r for r, _ in raw_runs),
                            statistics.median(r for r, _ in our_runs),
                            statistics.median(c for _, c in raw_runs),
                            statistics.median(c for _, c in our_runs),
                        ),
                    )
        finally:
            for declared in topology.queues:
                await admin.queue_delete(declared.name)
            await admin.exchange_delete(f"{prefix}.users.events")
    return rows


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    count, rounds = (600, 2) if args.quick else (3000, 5)
    with Path(os.devnull).open("w", encoding="utf-8") as sink:
        configure_logging(service="bench", level="INFO", stream=sink)
        rows = asyncio.run(_run(count=count, rounds=rounds, windows=[1, 100]))
    print(
        f"publish with confirms, persistent ~200 B JSON, {count} messages "
        f"(window 1: {max(count // 4, 100)}), median of {rounds} alternating rounds"
    )
    print(
        f"{'confirm window':>14} | {'raw aio-pika msg/s':>18} | {'svcinfra msg/s':>14} | ratio"
        f" | {'raw CPU us/msg':>14} | {'svcinfra CPU us/msg':>19}"
    )
    print(f"{'-' * 14}-+-{'-' * 18}-+-{'-' * 14}-+-------+-{'-' * 14}-+-{'-' * 19}")
    for window, raw_rate, our_rate, raw_cpu, our_cpu in rows:
        print(
            f"{window:>14} | {raw_rate:>18,.0f} | {our_rate:>14,.0f} | {our_rate / raw_rate:5.2f}"
            f" | {raw_cpu:>14,.0f} | {our_cpu:>19,.0f}"
        )
    print("FastStream: not installed here; that comparison is left for later.")


if __name__ == "__main__":
    main()
