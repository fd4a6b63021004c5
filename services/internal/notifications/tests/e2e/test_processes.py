"""`notifications` started as a user starts it: `migrate`, `consume` and `relay` as processes.

Real PostgreSQL and RabbitMQ; the mail API is a scripted `UpstreamServer` in the test process,
which the service reaches over loopback exactly as it would reach fake-mail or the real API.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.request
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import aio_pika
import asyncpg
import notifkit
import pytest

from svcinfra.httpclient.testing import UpstreamServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.rabbitmq]

PROVIDER_ID = "66666666-6666-4666-8666-666666666666"


def command(*args: str) -> list[str]:
    """The console script `notifications`, through the running interpreter."""
    return [sys.executable, "-m", "notifications", *args]


def process_env(values: dict[str, str]) -> dict[str, str]:
    """Only the service's variables, plus what Python needs to start."""
    keep = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return keep | values


@dataclasses.dataclass
class Process:
    """A started `notifications` process and its output files."""

    popen: subprocess.Popen[bytes]
    tech_port: int
    out: Path
    err: Path

    @property
    def stdout(self) -> str:
        return self.out.read_text(encoding="utf-8")

    @property
    def stderr(self) -> str:
        return self.err.read_text(encoding="utf-8")

    def get(self, path: str) -> tuple[int, str]:
        """GET the tech port; (status, body), 0 when nothing answers."""
        url = f"http://127.0.0.1:{self.tech_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except OSError:
            return 0, ""

    async def wait_ready(self) -> None:
        async def ready() -> bool:
            assert self.popen.poll() is None, self.stdout + self.stderr
            status, _ = await asyncio.to_thread(self.get, "/health/readyz")
            return status == 200

        await notifkit.until(ready, timeout=60)

    async def terminate(self) -> int:
        """SIGTERM, then the exit status."""
        self.popen.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.popen.wait, 60)


@asynccontextmanager
async def started(env: dict[str, str], role: str, tmp_path: Path) -> AsyncIterator[Process]:
    out, err = tmp_path / f"{role}.out", tmp_path / f"{role}.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        # Popen returns at once (the start is not awaited): the process runs beside the loop.
        popen = subprocess.Popen(  # noqa: ASYNC220
            command(role), env=process_env(env), stdout=stdout, stderr=stderr
        )
    process = Process(popen, int(env["TECH_PORT"]), out, err)
    try:
        yield process
    finally:
        if popen.poll() is None:
            popen.kill()
            popen.wait(30)


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(*args), env=process_env(env), capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip


@pytest.fixture
async def mail():
    async with UpstreamServer(default=notifkit.accepted(PROVIDER_ID)) as server:
        yield server


@pytest.fixture
async def broker(amqp_server, amqp_names):
    connection = await aio_pika.connect(amqp_server)
    broker = notifkit.Broker(amqp_names, connection)
    try:
        yield broker
    finally:
        with contextlib.suppress(Exception):
            await broker.delete_all()
        await connection.close()


@pytest.fixture
def env(postgres_db, amqp_names, mail) -> dict[str, str]:
    return notifkit.environ(
        prefix=amqp_names,
        dbname=postgres_db.name,
        mail_url=mail.url,
        api_key=f"e2e-key-{secrets.token_hex(12)}",
    )


async def count(dsn: str, table: str) -> int:
    con = await asyncpg.connect(dsn)
    try:
        return int(await con.fetchval(f"SELECT count(*) FROM {table}"))  # noqa: S608
    finally:
        await con.close()


def test_a_broken_environment_exits_78_listing_every_problem(env) -> None:
    """Missing key and database, bad backoff, bad ENV, a misspelt prefixed variable: exit 78,
    each named, no value (CF-6)."""
    broken = dict(env)
    del broken["NOTIFICATIONS_MAIL_API_API_KEY"]
    del broken["NOTIFICATIONS_POSTGRES_DB"]
    broken["CONSUMER_RETRY_BACKOFF"] = "soon"
    broken["ENV"] = "moon"
    broken["NOTIFICATIONS_MAIL_API_BASE_URL"] = "ftp://user:hunter2@mail.example"
    broken["NOTIFICATIONS_POSTGRES_PASWORD"] = "typo"  # noqa: S105  (a misspelt name)
    for role in ("consume", "relay"):
        result = run(broken, role)
        assert result.returncode == 78, result.stderr
        for variable in (
            "NOTIFICATIONS_MAIL_API_API_KEY",
            "NOTIFICATIONS_POSTGRES_DB",
            "CONSUMER_RETRY_BACKOFF",
            "ENV",
            "NOTIFICATIONS_MAIL_API_BASE_URL",
            "NOTIFICATIONS_POSTGRES_PASWORD",
        ):
            assert variable in result.stderr, (variable, result.stderr)
        assert "hunter2" not in result.stderr + result.stdout
        assert "moon" not in result.stderr
        assert "typo" not in result.stderr


def test_migrate_up_status_down(env) -> None:
    """`migrate up` applies the deliveries, outbox, inbox, parking and mail intent migrations;
    `down` one."""
    up = run(env, "migrate", "up")
    assert up.returncode == 0, up.stderr
    # goose's words on stderr (issue 15); 5: the inbox, the outbox, its parking, the deliveries
    # and the mail intents (issue 17)
    assert up.stderr.count(" OK   ") == 5
    assert "goose: successfully migrated database to version" in up.stderr
    status = run(env, "migrate", "status")
    assert status.returncode == 0, status.stderr
    assert "create_deliveries" in status.stderr
    assert "Pending" not in status.stderr
    down = run(env, "migrate", "down")
    assert down.returncode == 0, down.stderr
    assert "Pending" in run(env, "migrate", "status").stderr


async def test_consume_and_relay_processes_send_one_email_and_announce_it(
    env, broker, mail, postgres_db, tmp_path
) -> None:
    """Started as processes: readiness, one email, one row, notification.sent.v1 with the
    correlation id, metrics on the tech port, and exit 0 on SIGTERM (MQ-6, MQ-11)."""
    assert run(env, "migrate", "up").returncode == 0
    relay_env = env | {"TECH_PORT": str(notifkit.free_port())}
    async with started(env, "consume", tmp_path) as consume:
        await consume.wait_ready()
        async with started(relay_env, "relay", tmp_path) as relay:
            await relay.wait_ready()
            await broker.bind_sent_queue()
            mid = await broker.publish(notifkit.registered())

            [sent] = await broker.wait_for(broker.sent_queue, timeout=60)

            assert sent.correlation_id == mid
            assert json.loads(sent.body)["provider_message_id"] == PROVIDER_ID
            assert [r.headers["idempotency-key"] for r in mail.requests] == [f"welcome-{mid}"]
            assert await count(postgres_db.dsn, "deliveries") == 1
            status, metrics = await asyncio.to_thread(consume.get, "/metrics")
            assert status == 200
            assert "svcinfra_amqp_messages_acked_total" in metrics
            assert (await asyncio.to_thread(consume.get, "/health/livez"))[0] == 200
            assert await relay.terminate() == 0
        assert await consume.terminate() == 0
    logs = consume.stdout + consume.stderr + relay.stdout + relay.stderr
    assert env["NOTIFICATIONS_MAIL_API_API_KEY"] not in logs
    assert env["NOTIFICATIONS_POSTGRES_PASSWORD"] not in logs
    first = json.loads(consume.stdout.splitlines()[0])  # JSON lines
    assert "level" in first


async def test_sigterm_finishes_the_message_in_flight(
    env, broker, mail, postgres_db, tmp_path
) -> None:
    """SIGTERM while the mail call is in flight: the call completes, the delivery is recorded
    and the message acked, then the process exits 0 (never half-done)."""
    assert run(env, "migrate", "up").returncode == 0
    mail.default = dataclasses.replace(notifkit.accepted(PROVIDER_ID), delay=1.5)
    slow = env | {
        "NOTIFICATIONS_MAIL_API_READ_TIMEOUT": "3",
        "NOTIFICATIONS_MAIL_API_DEADLINE": "5",
    }
    async with started(slow, "consume", tmp_path) as consume:
        await consume.wait_ready()
        await broker.publish(notifkit.registered())
        await notifkit.until(lambda: len(mail.requests) == 1)

        assert await consume.terminate() == 0

    assert await count(postgres_db.dsn, "deliveries") == 1
    assert await count(postgres_db.dsn, "svcinfra_inbox") == 1
    assert await count(postgres_db.dsn, "svcinfra_outbox") == 1
    assert await broker.take(broker.queue) == []  # acked, not returned
    assert await broker.take(broker.dlq) == []
    assert len(mail.requests) == 1


async def _killed_between_call_and_record(
    env: dict[str, str], mail: notifkit.FakeMail, dsn: str, broker: notifkit.Broker, tmp_path: Path
) -> str:
    """SIGKILL the consumer after fake-mail accepted its call and before its record committed
    (the test holds a lock on `deliveries`, so the recording transaction waits). Return the
    event's message_id."""
    assert run(env, "migrate", "up").returncode == 0
    blocker = await asyncpg.connect(dsn)
    try:
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE deliveries IN SHARE MODE")  # INSERTs wait
            async with started(env, "consume", tmp_path) as first:
                await first.wait_ready()
                mid = await broker.publish(notifkit.registered())
                await notifkit.until(lambda: len(mail.messages()) == 1, timeout=30)
                first.popen.kill()  # the email is out, its record not committed
                await asyncio.to_thread(first.popen.wait, 30)
    finally:
        await blocker.close()
    assert await count(dsn, "deliveries") == 0
    assert await count(dsn, "mail_intents") == 1
    return mid


def _fake_mail_env(env: dict[str, str], mail: notifkit.FakeMail, key_ttl: str) -> dict[str, str]:
    return env | {
        "NOTIFICATIONS_MAIL_API_BASE_URL": mail.api,
        "NOTIFICATIONS_MAIL_API_API_KEY": mail.key,
        "NOTIFICATIONS_MAIL_API_READ_TIMEOUT": "5",
        "NOTIFICATIONS_MAIL_API_DEADLINE": "8",
        "NOTIFICATIONS_MAIL_API_IDEMPOTENCY_TTL": key_ttl,
    }


async def test_a_killed_consumer_after_the_mail_call_sends_no_second_email(
    env, broker, postgres_db, tmp_path
) -> None:
    """SIGKILL after fake-mail (real keys, 24 h) accepted the call: nothing is committed, the broker
    redelivers to the next process, which repeats the same request, gets fake-mail's replay of
    its first answer, and records exactly one delivery of exactly one email (PG-12, MQ-3)."""
    with notifkit.fake_mail() as mail:
        slow = _fake_mail_env(env, mail, "86400")
        mid = await _killed_between_call_and_record(slow, mail, postgres_db.dsn, broker, tmp_path)
        (tmp_path / "second").mkdir()
        async with started(slow, "consume", tmp_path / "second") as second:
            await second.wait_ready()
            await notifkit.until(lambda: count(postgres_db.dsn, "svcinfra_inbox"), timeout=60)
            assert await second.terminate() == 0
        [message] = mail.messages()
    assert message["idempotency_key"] == f"welcome-{mid}"
    con = await asyncpg.connect(postgres_db.dsn)
    try:
        provider_ids = await con.fetch("SELECT provider_message_id FROM deliveries")
        intents = await con.fetch("SELECT state FROM mail_intents")
    finally:
        await con.close()
    assert [row["provider_message_id"] for row in provider_ids] == [message["id"]]
    assert [row["state"] for row in intents] == ["sent"]
    assert await count(postgres_db.dsn, "svcinfra_outbox") == 1
    assert await broker.take(broker.queue) == []
    assert await broker.take(broker.dlq) == []


async def test_a_killed_consumer_redelivered_past_the_key_lifetime_is_dead_lettered(
    env, broker, postgres_db, tmp_path
) -> None:
    """SIGKILL between the call and the record, the redelivery past fake-mail's 1 s key
    lifetime: no second email (fake-mail would send one), the DLQ with the reconciliation
    reason, no delivery recorded (MQ-3, MQ-10, issue 17)."""
    with notifkit.fake_mail(FAKE_MAIL_IDEMPOTENCY_TTL="1") as mail:
        slow = _fake_mail_env(env, mail, "1")
        mid = await _killed_between_call_and_record(slow, mail, postgres_db.dsn, broker, tmp_path)
        await asyncio.sleep(1.5)  # past both key lifetimes, however fast the next start is
        (tmp_path / "second").mkdir()
        async with started(slow, "consume", tmp_path / "second") as second:
            await second.wait_ready()
            [dead] = await broker.wait_for(broker.dlq, timeout=60)
            assert await second.terminate() == 0
        [message] = mail.messages()
    assert message["idempotency_key"] == f"welcome-{mid}"
    headers = dead.headers or {}
    assert headers["error-type"] == "Reject"
    assert "reconciliation needed" in str(headers["error-message"])
    assert await count(postgres_db.dsn, "deliveries") == 0
    assert await count(postgres_db.dsn, "svcinfra_inbox") == 0
    assert await broker.take(broker.queue) == []
