"""An outbox relay process for the e2e test that stops dead between publishing and marking.

    python relay_process.py PREFIX DBNAME

It relays the first batch it finds; once the broker confirmed it, it prints `PUBLISHED <ids>` and waits, as if
the process hung right before `outbox__mark_sent`, until the test kills it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import sys

import msgkit

from svcinfra.messaging import Publisher
from svcinfra.messaging.outbox import Relay
from svcinfra.postgres import Database


class StopsBeforeMarking(Relay):
    """A relay that never gets to mark its batch sent."""

    async def _mark_sent(self, ids: list[str]) -> None:
        print("PUBLISHED " + " ".join(sorted(ids)), flush=True)  # noqa: T201  (the test reads it)
        await asyncio.sleep(3600)


async def main(prefix: str, dbname: str) -> None:
    db = await Database.connect(msgkit.settings(dbname))
    async with Publisher(msgkit.contract(prefix), url=msgkit.AMQP_URL) as publisher:
        relay = StopsBeforeMarking(db, publisher, lease=1.0)
        while not await relay.relay_batch():  # until the test has committed its rows
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
