"""`PostgresIntents` on the real database: the intents of calls that start together (MQ-3).

The intents are written by one statement for the calls that start together (`Coalescer`), and
that statement commits before any of the calls goes on; a redelivery finds its intent with the
server's age; two calls for one event in one statement: one writes it, the other finds it.
"""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import notifkit
import pytest
from notifications.domain.repository import Intent, IntentState
from notifications.repository.postgres.intents import PostgresIntents

from svcinfra.postgres import Database, load_queries

pytestmark = [pytest.mark.postgres]


def _statements(query: str) -> float:
    return notifkit.counted("svcinfra_db_query_duration_seconds_count", query=query)


async def _committed(dsn: str) -> set[str]:
    con = await asyncpg.connect(dsn)  # another session: it sees committed rows only
    try:
        return {r["source_message_id"] for r in await con.fetch("SELECT * FROM mail_intents")}
    finally:
        await con.close()


async def test_calls_starting_together_write_their_intents_in_one_committed_statement(
    postgres_db,
) -> None:
    await notifkit.migrate(postgres_db.dsn)
    db = await Database.connect(postgres_db.settings())
    try:
        intents = PostgresIntents(db, load_queries("notifications"))
        ids = [str(uuid.uuid4()) for _ in range(12)]
        before = _statements("intents__begin")
        seen_committed: list[bool] = []

        async def intend(source: str) -> Intent:
            intent = await intents.intend(source, f"welcome-{source}")
            seen_committed.append(source in await _committed(postgres_db.dsn))
            return intent

        first = await asyncio.gather(*(intend(i) for i in ids))
        assert _statements("intents__begin") == before + 1
        assert first == [Intent(new=True, state=IntentState.INTENDED, age=0.0)] * 12
        assert seen_committed == [True] * 12  # committed before any caller went on

        await asyncio.sleep(0.05)
        new = str(uuid.uuid4())
        before = _statements("intents__begin")
        again, *twice = await asyncio.gather(
            intents.intend(ids[0], f"welcome-{ids[0]}"),
            intents.intend(new, f"welcome-{new}"),
            intents.intend(new, f"welcome-{new}"),
        )
        assert _statements("intents__begin") == before + 1
        assert (again.new, again.state) == (False, IntentState.INTENDED)
        assert again.age >= 0.05  # the server's clock, since the first write
        assert [t.new for t in twice] == [True, False]  # one statement, one row for `new`
        assert await _committed(postgres_db.dsn) == {*ids, new}
    finally:
        await db.close()
