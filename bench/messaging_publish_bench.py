"""Benchmark: `svcinfra.messaging.Publisher` vs raw aio-pika, publishing only, alternating.

The publish comparison of `messaging_bench.py` on its own, with the order of the two inside each
round alternating (raw first in even rounds, ours first in odd ones) so that neither always
runs right after a purge of the other's messages, when the broker is still busy with it.

Both publish persistent ~200-byte JSON messages to the same durable topic exchange, bound to one
durable queue, on RabbitMQ at 127.0.0.1:5672, with publisher confirms and `mandatory`, keeping
the same number of unconfirmed messages in flight (the confirm window: 1 = each publish awaited
before the next; 100 = batches of 100 concurrent publishes, each awaiting its own confirm).

* raw: aio-pika JSON-encodes the payload and sets a message_id, persistence and the content
  type, nothing else (the issue's baseline);
* svcinfra: our publisher, validation on: schema check, uuid4 message_id, `type`, version
  header, correlation id, timestamp, app id, a confirm timeout, the trace context check, metrics
  and the retry loop's bookkeeping; logs through the production JSON pipeline at INFO;
* raw, same message (information only): aio-pika sending the very message ours sends (the same
  properties and headers, the same confirm timeout), without validation, metrics or tracing:
  what is left between it and ours is our layer's own cost.

The CPU columns are this process's CPU time per message, steadier than wall time on a machine
shared with the broker. Medians of the rounds; the queue is purged before every run.

    .venv/bin/python bench/messaging_publish_bench.py          # full run
    .venv/bin/python bench/messaging_publish_bench.py --quick  # a smoke run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import aio_pika
import yaml

from svcinfra.messaging import Publisher, declare_topology
from svcinfra.messaging.contract import contract_from_document
from svcinfra.messaging.topology import Topology
from svcinfra.observability import configure_logging

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
CONFIRM_TIMEOUT = 5.0  # the publisher's default

Publish = Callable[[], Awaitable[object]]
Row = tuple[int, dict[str, float], dict[str, float]]


QUEUE_TYPES = ("quorum", "classic")  # the library's default first (issue 16)


def contract_for(name: Path, prefix: str, queue_type: str = "quorum") -> object:
    """Load a fixture contract with its exchange and queue renamed under `prefix`.

    The work queue (and with it its wait queues and DLQ) gets `queue_type`: every path of a run
    publishes to, and consumes from, the same queue, so all pay for the same queue type.
    """
    text = name.read_text(encoding="utf-8").replace("users.events", f"{prefix}.users.events")
    text = text.replace("notifications.user-events", f"{prefix}.notifications.user-events")
    document = yaml.safe_load(text)
    for channel in document.get("channels", {}).values():
        if "x-amqp-queue-arguments" in channel:
            channel["x-amqp-queue-arguments"]["x-queue-type"] = queue_type
    return contract_from_document(document, source=name.name)


async def throughput(publish: Publish, count: int, window: int) -> tuple[float, float]:
    """Messages confirmed per second and this process's CPU microseconds per message."""
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(count // window):
        await asyncio.gather(*(publish() for _ in range(window)))
    elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
    return count / elapsed, cpu_used / count * 1e6


async def run_publish(
    *, count: int, rounds: int, windows: list[int], queue_type: str = "quorum"
) -> list[Row]:
    """Publish through raw, ours and raw-same-message in alternating order; medians per window."""
    prefix = f"pubbench{os.getpid()}{queue_type}"
    consumer = contract_for(CONTRACT, prefix, queue_type)
    users = contract_for(USERS, prefix)
    topology = Topology.from_contract(consumer)  # type: ignore[arg-type]
    connection = await aio_pika.connect(URL)
    rows: list[Row] = []
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

        async def raw_same() -> object:
            message = aio_pika.Message(
                json.dumps(PAYLOAD, ensure_ascii=False, separators=(",", ":")).encode(),
                headers={"message-version": 1},
                message_id=str(uuid.uuid4()),
                correlation_id="bench",
                type=EVENT,
                timestamp=datetime.now(UTC),
                app_id="bench",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
                content_type="application/json",
            )
            return await raw_exchange.publish(
                message, EVENT, mandatory=True, timeout=CONFIRM_TIMEOUT
            )

        try:
            async with Publisher(users, url=URL, name="bench") as publisher:  # type: ignore[arg-type]

                async def ours() -> object:
                    return await publisher.publish(EVENT, PAYLOAD, correlation_id="bench")

                kinds: dict[str, Publish] = {"raw": raw, "ours": ours, "same": raw_same}
                for publish in kinds.values():  # warm up every path
                    await throughput(publish, 200, 100)
                for window in windows:
                    n = count if window > 1 else max(count // 4, 100)
                    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in kinds}
                    for round_ in range(rounds):
                        order = list(kinds.items())
                        for name, publish in order if round_ % 2 == 0 else order[::-1]:
                            await queue.purge()
                            runs[name].append(await throughput(publish, n, window))
                    rows.append(
                        (
                            window,
                            {k: statistics.median(r for r, _ in v) for k, v in runs.items()},
                            {k: statistics.median(c for _, c in v) for k, v in runs.items()},
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
    count, rounds = (600, 2) if args.quick else (3000, 6)
    with Path(os.devnull).open("w", encoding="utf-8") as sink:
        configure_logging(service="bench", level="INFO", stream=sink)
        for queue_type in QUEUE_TYPES:
            rows = asyncio.run(
                run_publish(count=count, rounds=rounds, windows=[1, 100], queue_type=queue_type)
            )
            print_publish(rows, count, rounds, queue_type)


def print_publish(rows: list[Row], count: int, rounds: int, queue_type: str = "quorum") -> None:
    """Print the publish table."""
    print(
        f"\npublish with confirms to a {queue_type} queue, persistent ~200 B JSON, {count} "
        f"messages (window 1: {max(count // 4, 100)}), median of {rounds} rounds, order "
        "alternating"
    )
    print(
        f"{'window':>6} | {'raw msg/s':>9} | {'ours msg/s':>10} | ratio | {'raw CPU us':>10} |"
        f" {'ours CPU us':>11} | cpu ratio | {'same-msg raw msg/s':>18} | {'same-msg CPU us':>15}"
    )
    for window, rate, cpu in rows:
        print(
            f"{window:>6} | {rate['raw']:>9,.0f} | {rate['ours']:>10,.0f} |"
            f" {rate['ours'] / rate['raw']:5.2f} | {cpu['raw']:>10,.0f} | {cpu['ours']:>11,.0f} |"
            f" {cpu['raw'] / cpu['ours']:9.2f} | {rate['same']:>18,.0f} | {cpu['same']:>15,.0f}"
        )
    print("ratio = svcinfra / raw aio-pika throughput (target >= 0.90); cpu ratio = raw / ours")


if __name__ == "__main__":
    main()
