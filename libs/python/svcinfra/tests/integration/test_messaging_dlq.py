"""`svcinfra dlq list | show | replay | purge` against the real broker (MQ-10)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from click.testing import CliRunner, Result

from svcinfra.__main__ import main
from svcinfra.messaging.consumer import Consumer, Delivery, Reject

KIT = str(Path(__file__).parents[1] / "assets" / "messaging")
if KIT not in sys.path:
    sys.path.insert(0, KIT)
import msgkit  # noqa: E402  (the kit's folder is put on sys.path above)

if TYPE_CHECKING:
    from svcinfra.postgres import Transaction

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]


@pytest.fixture(name="svc")
async def _svc(amqp_server: str, amqp_names: str, postgres_db, tmp_path: Path):
    async with msgkit.service(amqp_names, postgres_db.name, tmp_path, url=amqp_server) as svc:
        yield svc


@pytest.fixture(name="contract_file")
def _contract_file(svc, tmp_path: Path) -> Path:
    path = tmp_path / "asyncapi.yaml"
    path.write_text(msgkit.contract_text(svc.prefix), encoding="utf-8")
    return path


async def cli(*args: str) -> Result:
    """Run `svcinfra ARGS` (in a thread: the command runs its own event loop)."""
    runner = CliRunner()
    return await asyncio.to_thread(
        runner.invoke, main, [*args, "--url", msgkit.AMQP_URL], catch_exceptions=False
    )


class Switch:
    """A consumer whose handler rejects every message while `broken` is set."""

    def __init__(self, svc: msgkit.Service) -> None:
        self.broken = True
        self.attempts: list[tuple[str, int]] = []
        self.consumer = Consumer(
            svc.contract, svc.db, url=msgkit.AMQP_URL, name=f"{svc.prefix}-consumer"
        )
        record = msgkit.make_recorder(msgkit.effects_queries())

        async def handler(tx: Transaction, delivery: Delivery) -> None:
            if self.broken:
                raise Reject("the mail template is missing")
            self.attempts.append((delivery.message_id, delivery.attempt))
            await record(tx, delivery)

        self.consumer.on(msgkit.REGISTERED, handler)
        self.consumer.on(msgkit.DELETED, handler)


async def test_list_show_and_replay_bring_dead_letters_back_once(svc, contract_file) -> None:
    """List counts, show explains without bodies, replay re-delivers with attempt 1, same ids."""
    switch = Switch(svc)
    task = asyncio.create_task(switch.consumer.run())
    try:
        ids = [await svc.publish_json(msgkit.registered()) for _ in range(3)]
        await msgkit.until(lambda: _equals(svc.depth(svc.dlq), 3))

        listed = await cli("dlq", "list", str(contract_file))
        shown = await cli("dlq", "show", str(contract_file), svc.dlq)
        with_body = await cli(
            "dlq", "show", str(contract_file), svc.queue, "--limit", "1", "--body"
        )
        assert await svc.depth(svc.dlq) == 3  # showing takes nothing away

        switch.broken = False
        one = await cli("dlq", "replay", str(contract_file), svc.dlq, "--message-id", ids[1])
        await msgkit.until(lambda: switch.attempts)
        rest = await cli("dlq", "replay", str(contract_file), svc.dlq)
        await msgkit.until(lambda: len(switch.attempts) == 3)
    finally:
        switch.consumer.stop()
        await task

    assert listed.exit_code == 0
    assert f"{svc.dlq}" in listed.output
    assert listed.output.split(svc.dlq)[1].split()[0] == "3"
    assert shown.exit_code == 0
    assert all(mid in shown.output for mid in ids)
    assert "permanent/Reject after 1 attempt(s)" in shown.output
    assert "the mail template is missing" in shown.output
    assert f"routing key '{msgkit.REGISTERED}'" in shown.output
    assert "ada@example.com" not in shown.output
    assert "ada@example.com" in with_body.output
    assert "replayed 1, failed 0" in one.output
    assert "replayed 2, failed 0" in rest.output
    assert switch.attempts[0] == (ids[1], 1)
    assert sorted(switch.attempts) == sorted((mid, 1) for mid in ids)
    assert await svc.effects() == dict.fromkeys(ids, 1)
    assert await svc.depth(svc.dlq) == 0


async def _equals(value, expected: int) -> bool:
    return await value == expected


async def test_purge_needs_yes_and_only_touches_the_contracts_dlqs(svc, contract_file) -> None:
    """Purge refuses without --yes and for a queue that is no DLQ; with --yes it empties it."""
    switch = Switch(svc)
    task = asyncio.create_task(switch.consumer.run())
    try:
        for _ in range(2):
            await svc.publish_json(msgkit.registered())
        await msgkit.until(lambda: _equals(svc.depth(svc.dlq), 2))
    finally:
        switch.consumer.stop()
        await task

    refused = await cli("dlq", "purge", str(contract_file), svc.dlq)
    foreign = await cli("dlq", "purge", str(contract_file), "some.other.queue", "--yes")
    assert await svc.depth(svc.dlq) == 2
    purged = await cli("dlq", "purge", str(contract_file), svc.dlq, "--yes")

    assert (refused.exit_code, foreign.exit_code) == (2, 2)
    assert "--yes" in refused.output
    assert "no dead-letter queue" in foreign.output
    assert purged.exit_code == 0
    assert "purged 2 message(s)" in purged.output
    assert await svc.depth(svc.dlq) == 0
