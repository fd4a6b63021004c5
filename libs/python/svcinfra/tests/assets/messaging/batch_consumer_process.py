"""A batching consumer process for the e2e kill test: it counts its handler runs aloud.

    python batch_consumer_process.py PREFIX DBNAME

Prefetch 50, batches of up to 25 (one transaction each, a savepoint per message). The handler
writes its effect row, prints `HANDLED <n>` (handler runs so far) and sleeps 20 ms, so a SIGKILL
lands with batches committed and acked, maybe one committed but not yet acked, and one open.
"""

from __future__ import annotations

import asyncio
import sys

import msgkit

from svcinfra.messaging.consumer import Consumer, Delivery
from svcinfra.postgres import Database, Transaction


async def main(prefix: str, dbname: str) -> None:
    db = await Database.connect(msgkit.settings(dbname))
    record = msgkit.make_recorder(msgkit.effects_queries())
    handled = 0

    async def counted(tx: Transaction, delivery: Delivery) -> None:
        nonlocal handled
        await record(tx, delivery)
        handled += 1
        print(f"HANDLED {handled}", flush=True)  # noqa: T201  (the test reads it)
        await asyncio.sleep(0.02)

    consumer = Consumer(
        msgkit.contract(prefix),
        db,
        url=msgkit.AMQP_URL,
        name=f"{prefix}-consumer",
        prefetch=50,
        batch_size=25,
        batch_linger=0.01,
    )
    consumer.on(msgkit.REGISTERED, counted)
    consumer.on(msgkit.DELETED, counted)
    await consumer.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
