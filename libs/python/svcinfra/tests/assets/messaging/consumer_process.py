"""A consumer process for the e2e test: it announces each message in its handler, then holds it.

    python consumer_process.py PREFIX DBNAME

The handler writes its effect row in the message's transaction, prints `IN_HANDLER <id>` and
sleeps before committing, so a SIGKILL at that point leaves the message unacked and uncommitted.
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

    async def held(tx: Transaction, delivery: Delivery) -> None:
        await record(tx, delivery)
        print(f"IN_HANDLER {delivery.message_id}", flush=True)  # noqa: T201  (the test reads it)
        await asyncio.sleep(3600)

    consumer = Consumer(
        msgkit.contract(prefix), db, url=msgkit.AMQP_URL, name=f"{prefix}-consumer", prefetch=1
    )
    consumer.on(msgkit.REGISTERED, held)
    consumer.on(msgkit.DELETED, held)
    await consumer.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
