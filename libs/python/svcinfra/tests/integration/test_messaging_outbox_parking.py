"""The outbox relay parks what can never be published and survives its own failures (issue 16).

Before: a row that could never be published (its exchange removed, its payload invalid under a
changed contract) was retried every 5 s forever, and `Relay.run` caught only `DatabaseError`, so
a closed publisher ended the relay task for good while the process stayed up. Real PostgreSQL
and RabbitMQ; `svcinfra outbox` is run as an operator would (MQ-4, MQ-6, MQ-10).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from click.testing import CliRunner, Result
from structlog.testing import capture_logs

from svcinfra.__main__ import main
from svcinfra.messaging import Publisher, declare_topology
from svcinfra.messaging.outbox import Outbox, Relay, parked_rows
from svcinfra.messaging.topology import Topology
from svcinfra.postgres import Database
from svcinfra.testing import FaultProxy, full_environ, metric_value

KIT = str(Path(__file__).parents[1] / "assets" / "messaging")
if KIT not in sys.path:
    sys.path.insert(0, KIT)
import msgkit  # noqa: E402  (the kit's folder is put on sys.path above)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

REGISTERED = msgkit.REGISTERED
DEAD_PORT = 16701  # nothing listens here (this helper's port range)
FAST = {"retry_delay": 0.01, "max_retry_delay": 0.02, "poll_interval": 0.02}


@pytest.fixture(name="svc")
async def _svc(
    amqp_server: str, amqp_names: str, postgres_db: Any, tmp_path: Path
) -> AsyncIterator[msgkit.Service]:
    async with msgkit.service(amqp_names, postgres_db.name, tmp_path, url=amqp_server) as svc:
        yield svc


def dsn(svc: msgkit.Service) -> str:
    return f"postgresql://postgres@127.0.0.1:5432/{svc.dbname}"


async def rows(svc: msgkit.Service) -> dict[str, asyncpg.Record]:
    """The outbox rows by id, read directly."""
    con = await asyncpg.connect(dsn(svc))
    try:
        found = await con.fetch(
            "SELECT id::text AS id, status, attempts, failures, sent_at, parked_at, last_error "
            "FROM svcinfra_outbox"
        )
    finally:
        await con.close()
    return {row["id"]: row for row in found}


async def add(svc: msgkit.Service, count: int) -> list[str]:
    outbox = Outbox(svc.contract)
    async with svc.db.transaction() as tx:
        return [await outbox.add(tx, REGISTERED, msgkit.registered()) for _ in range(count)]


async def add_raw(svc: msgkit.Service, payload: dict[str, object]) -> str:
    """A row as an older version of the service wrote it: its payload is not checked here."""
    message_id = str(uuid.uuid4())
    con = await asyncpg.connect(dsn(svc))
    try:
        await con.execute(
            "INSERT INTO svcinfra_outbox (id, message_name, payload) VALUES ($1, $2, $3::jsonb)",
            uuid.UUID(message_id),
            REGISTERED,
            json.dumps(payload),
        )
    finally:
        await con.close()
    return message_id


async def drop_exchange(svc: msgkit.Service) -> None:
    channel = await svc.connection.channel()
    await channel.exchange_delete(svc.exchange)
    await channel.close()


async def until_status(svc: msgkit.Service, relay: Relay, ids: list[str], status: str) -> None:
    """Run relay batches until every row of `ids` has `status`."""

    async def reached() -> bool:
        await relay.relay_batch()
        found = await rows(svc)
        return all(found[i]["status"] == status for i in ids)

    await msgkit.until(reached, interval=0.03)


def outbox_cli(*args: str) -> Result:
    return CliRunner().invoke(main, ["outbox", *args], catch_exceptions=False)


async def test_a_closed_publisher_does_not_end_the_relay(svc: msgkit.Service) -> None:
    """The loop restarts with backoff, readiness turns False, the rows are handed back intact."""
    ids = await add(svc, 2)
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        pass  # closed: every publish raises MessagingError("the publisher is closed")
    relay = Relay(svc.db, publisher, restart_delay=0.01, max_restart_delay=0.05, **FAST)
    restarts = metric_value("svcinfra_amqp_outbox_relay_restarts_total", reason="MessagingError")
    task = asyncio.create_task(relay.run())
    try:
        with capture_logs() as logs:
            await asyncio.sleep(0.3)
            assert not task.done()  # before: the task had ended with MessagingError
            await msgkit.until(lambda: relay.failing)
        assert not await relay.ready()
        assert "the publisher is closed" in (relay.last_error or "")
    finally:
        relay.stop()
        await asyncio.wait_for(task, timeout=5)  # stop ends it, without an error

    failed = [e for e in logs if e["event"] == "outbox relay failed; restarting"]
    assert len(failed) >= 3
    assert failed[-1]["restart_in_s"] <= 0.05
    assert (
        metric_value("svcinfra_amqp_outbox_relay_restarts_total", reason="MessagingError")
        >= restarts + 3
    )
    found = await rows(svc)
    for message_id in ids:  # not the rows' fault: no attempt, no failure counted, not parked
        assert (found[message_id]["status"], found[message_id]["failures"]) == ("pending", 0)
        assert found[message_id]["attempts"] == 0


class Flaky:
    """A publisher whose first `broken` publishes raise a bug's exception."""

    def __init__(self, publisher: Publisher, broken: int) -> None:
        self.publisher = publisher
        self.broken = broken

    async def publish(self, *args: Any, **kwargs: Any) -> object:
        if self.broken > 0:
            self.broken -= 1
            raise RuntimeError("a bug in the publish path")
        return await self.publisher.publish(*args, **kwargs)


async def test_the_relay_recovers_once_its_failures_stop(svc: msgkit.Service) -> None:
    """Any exception restarts the loop; when it stops happening every row is sent and ready."""
    ids = await add(svc, 5)
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        flaky = Flaky(publisher, broken=20)
        relay = Relay(
            svc.db,
            flaky,  # type: ignore[arg-type]
            restart_delay=0.01,
            max_restart_delay=0.02,
            failing_after=2,
            **FAST,
        )
        task = asyncio.create_task(relay.run())
        try:
            await msgkit.until(lambda: relay.failing)
            assert not await relay.ready()
            await msgkit.until(lambda: _depth_is(svc, 5))
            await msgkit.until(relay.ready)
        finally:
            relay.stop()
            await asyncio.wait_for(task, timeout=5)

    assert sorted(m.message_id for m in await svc.take(svc.queue)) == sorted(ids)
    assert {r["status"] for r in (await rows(svc)).values()} == {"sent"}
    assert relay.last_error is None


async def _depth_is(svc: msgkit.Service, expected: int) -> bool:
    return await svc.depth(svc.queue) == expected


async def test_a_database_outage_restarts_the_loop_until_the_database_is_back(
    svc: msgkit.Service,
) -> None:
    """Postgres refused and reset under the relay: it fails, backs off, and recovers by itself."""
    async with FaultProxy("127.0.0.1", 5432) as proxy:
        db = await Database.connect(
            msgkit.settings(svc.dbname, port=proxy.port, connect_timeout=0.5, command_timeout=0.5)
        )
        restarts = metric_value("svcinfra_amqp_outbox_relay_restarts_total", reason="database")
        async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
            relay = Relay(db, publisher, restart_delay=0.02, max_restart_delay=0.1, **FAST)
            task = asyncio.create_task(relay.run())
            try:
                await proxy.refuse()
                proxy.reset_all()
                await msgkit.until(lambda: relay.failing)
                assert not await relay.ready()
                ids = await add(svc, 3)  # committed directly, while the relay cannot reach it
                await asyncio.sleep(0.3)
                assert not task.done()
                await proxy.accept()
                await msgkit.until(lambda: _depth_is(svc, 3))
                await msgkit.until(relay.ready)
            finally:
                relay.stop()
                await asyncio.wait_for(task, timeout=10)
                await db.close()

    assert sorted(m.message_id for m in await svc.take(svc.queue)) == sorted(ids)
    assert (
        metric_value("svcinfra_amqp_outbox_relay_restarts_total", reason="database") >= restarts + 3
    )


async def test_a_row_whose_exchange_is_gone_is_parked_after_max_failures(
    svc: msgkit.Service,
) -> None:
    """Three ExchangeNotFound failures park it: status, reason, metric, one log line."""
    (mid,) = await add(svc, 1)
    await drop_exchange(svc)
    parked_before = metric_value(
        "svcinfra_amqp_outbox_parked_total", message=REGISTERED, reason="ExchangeNotFoundError"
    )
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        relay = Relay(svc.db, publisher, max_failures=3, **FAST)
        with capture_logs() as logs:
            await until_status(svc, relay, [mid], "parked")
        for _ in range(5):  # left alone from now on
            assert await relay.relay_batch() == 0
            await asyncio.sleep(0.03)

    row = (await rows(svc))[mid]
    assert (row["failures"], row["attempts"], row["sent_at"]) == (3, 3, None)
    assert row["parked_at"] is not None
    assert row["last_error"].startswith("ExchangeNotFoundError")
    (line,) = [e for e in logs if e["event"].startswith("outbox row parked")]
    assert (line["message_id"], line["reason"], line["failures"]) == (
        mid,
        "ExchangeNotFoundError",
        3,
    )
    assert line["log_level"] == "error"
    assert (
        metric_value(
            "svcinfra_amqp_outbox_parked_total", message=REGISTERED, reason="ExchangeNotFoundError"
        )
        == parked_before + 1
    )


async def test_a_payload_invalid_under_a_changed_contract_is_parked_the_others_sent(
    svc: msgkit.Service,
) -> None:
    """One bad row in a batch is parked; the valid rows of the same batches are published."""
    bad = await add_raw(svc, msgkit.registered(email="not an address"))
    good = await add(svc, 3)
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        relay = Relay(svc.db, publisher, max_failures=2, **FAST)
        await until_status(svc, relay, [bad], "parked")

    found = await rows(svc)
    assert "PayloadValidationError" in found[bad]["last_error"]
    assert {found[g]["status"] for g in good} == {"sent"}
    assert sorted(m.message_id for m in await svc.take(svc.queue)) == sorted(good)


async def test_a_broker_outage_never_parks_a_row(svc: msgkit.Service) -> None:
    """Temporary failures (the publish deadline passed) are retried, not counted toward parking."""
    (mid,) = await add(svc, 1)
    unreachable = Publisher(
        svc.contract,
        url=f"amqp://guest:guest@127.0.0.1:{DEAD_PORT}/",
        connect_timeout=0.05,
        deadline=0.1,
    )
    relay = Relay(svc.db, unreachable, max_failures=1, **FAST)
    for _ in range(3):
        await msgkit.until(lambda: _attempted(svc, relay))

    row = (await rows(svc))[mid]
    assert row["attempts"] >= 3
    assert (row["status"], row["failures"]) == ("pending", 0)
    assert row["last_error"].startswith("PublishDeadlineError")


async def _attempted(svc: msgkit.Service, relay: Relay) -> bool:
    before = {r["attempts"] for r in (await rows(svc)).values()}
    await relay.relay_batch()
    return {r["attempts"] for r in (await rows(svc)).values()} != before


async def test_the_outbox_cli_lists_shows_retries_and_purges_parked_rows(
    svc: msgkit.Service,
) -> None:
    """`svcinfra outbox` on parked rows, as `svcinfra dlq` on dead letters; no body unasked."""
    first, second = await add(svc, 2)
    await drop_exchange(svc)
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        relay = Relay(svc.db, publisher, max_failures=1, **FAST)
        await until_status(svc, relay, [first, second], "parked")
        url = dsn(svc)

        listed = await asyncio.to_thread(outbox_cli, "list", "--dsn", url)
        assert listed.exit_code == 0, listed.output
        (line,) = [ln for ln in listed.output.splitlines() if ln.startswith(REGISTERED)]
        assert line.split()[1] == "2"

        shown = await asyncio.to_thread(outbox_cli, "show", "--dsn", url, "--limit", "5")
        assert shown.exit_code == 0, shown.output
        assert "showing 2 parked row(s)" in shown.output
        assert first in shown.output
        assert "ExchangeNotFoundError" in shown.output
        assert "payload" not in shown.output
        with_body = await asyncio.to_thread(outbox_cli, "show", "--dsn", url, "--body")
        assert '"email"' in with_body.output

        await declare_topology(svc.connection, Topology.from_contract(svc.contract))
        retried = await asyncio.to_thread(outbox_cli, "retry", "--dsn", url, "--message-id", first)
        assert retried.exit_code == 0, retried.output
        assert "retried 1 parked row(s)" in retried.output
        await until_status(svc, relay, [first], "sent")

        again = await asyncio.to_thread(outbox_cli, "retry", "--dsn", url, "--message-id", first)
        assert again.exit_code == 1
        assert f"not retried (not parked): {first}" in again.output

        refused = await asyncio.to_thread(outbox_cli, "purge", "--dsn", url)
        assert refused.exit_code == 2
        purged = await asyncio.to_thread(outbox_cli, "purge", "--dsn", url, "--yes")
        assert purged.exit_code == 0, purged.output
        assert "purged 1 parked row(s)" in purged.output

    assert [m.message_id for m in await svc.take(svc.queue)] == [first]  # its own id
    assert set(await rows(svc)) == {first}
    assert await parked_rows(svc.db) == []
    empty = await asyncio.to_thread(outbox_cli, "list", "--dsn", dsn(svc))
    assert empty.output.splitlines()[1:] == []


async def test_the_outbox_cli_reads_the_database_from_the_services_config(
    svc: msgkit.Service,
) -> None:
    """`--config MODULE:CLASS`: the Postgres section of the service's Config, from its env."""
    (mid,) = await add(svc, 1)
    await drop_exchange(svc)
    async with Publisher(svc.contract, url=msgkit.AMQP_URL) as publisher:
        await until_status(svc, Relay(svc.db, publisher, max_failures=1, **FAST), [mid], "parked")
    env = full_environ() | {"APP_POSTGRES_DB": svc.dbname, "POSTGRES_SSLMODE": "disable"}

    shown = await asyncio.to_thread(
        lambda: CliRunner(env=env).invoke(
            main, ["outbox", "show", "--config", "svcinfra.testing:FullConfig"]
        )
    )

    assert shown.exit_code == 0, shown.output
    assert mid in shown.output
    assert "pg-test-password" not in shown.output


async def test_the_outbox_cli_reports_bad_usage_and_an_unreachable_database() -> None:
    """No database given: 2; a database that does not answer: 69, without the password."""
    missing = await asyncio.to_thread(outbox_cli, "list")
    assert missing.exit_code == 2
    assert "pass --dsn" in missing.output
    bad_id = await asyncio.to_thread(
        outbox_cli, "purge", "--yes", "--dsn", "postgresql://u@127.0.0.1/db", "--message-id", "x"
    )
    assert bad_id.exit_code == 2
    assert "not outbox ids" in bad_id.output
    down = await asyncio.to_thread(
        outbox_cli, "list", "--dsn", f"postgresql://u:s3cret@127.0.0.1:{DEAD_PORT}/db"
    )
    assert down.exit_code == 69
    assert "s3cret" not in down.output
