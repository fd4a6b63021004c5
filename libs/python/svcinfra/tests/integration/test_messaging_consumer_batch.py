"""Batched inbox transactions on the real broker and database (MQ-3, MQ-9; issue 19 item 4).

One transaction per batch of deliveries, a savepoint per message: a failing handler rolls back
alone, the acks go after the commit, a failed commit acks nothing, a batch closes at its size
or its linger, and a connection lost between the commit and the acks is absorbed by the inbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from prometheus_client import REGISTRY

from svcinfra.messaging import MessagingError
from svcinfra.messaging.consumer import Consumer, Delivery, Reject
from svcinfra.postgres import Database, DatabaseError
from svcinfra.testing import FaultProxy

KIT = str(Path(__file__).parents[1] / "assets" / "messaging")
if KIT not in sys.path:
    sys.path.insert(0, KIT)
import msgkit  # noqa: E402  (the kit's folder is put on sys.path above)

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence

    from svcinfra.postgres import Transaction

pytestmark = [pytest.mark.rabbitmq, pytest.mark.postgres]

REGISTERED, DELETED = msgkit.REGISTERED, msgkit.DELETED


def sample(name: str, **labels: str) -> float:
    """The current value of a metric sample (0 when it was never touched)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


def batches(queue: str) -> tuple[float, float]:
    """(batches settled, messages in them) so far on `queue`."""
    return (
        sample("svcinfra_amqp_inbox_batch_size_count", queue=queue),
        sample("svcinfra_amqp_inbox_batch_size_sum", queue=queue),
    )


@pytest.fixture(name="svc")
async def _svc(amqp_server: str, amqp_names: str, postgres_db, tmp_path: Path):
    async with msgkit.service(amqp_names, postgres_db.name, tmp_path, url=amqp_server) as svc:
        yield svc


def make(svc: msgkit.Service, db: Any = None, **options: Any) -> Consumer:
    """A consumer of the test's queue, named after the test."""
    options.setdefault("name", f"{svc.prefix}-consumer")
    options.setdefault("url", msgkit.AMQP_URL)
    return Consumer(svc.contract, db or svc.db, **options)


@asynccontextmanager
async def running(consumer: Consumer) -> AsyncIterator[asyncio.Task[None]]:
    """Run `consumer` until the block ends, then stop it and wait for it."""
    task = asyncio.create_task(consumer.run())
    await msgkit.until(lambda: consumer.consuming or task.done())
    if task.done():
        task.result()
    try:
        yield task
    finally:
        consumer.stop()
        await task


async def publish_all(svc: msgkit.Service, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for mid in ids:
        await svc.publish_json(msgkit.registered(), message_id=mid)
    await msgkit.until(lambda: _depth_is(svc, count))
    return ids


async def _depth_is(svc: msgkit.Service, count: int) -> bool:
    return await svc.depth(svc.queue) == count


async def inbox_ids(svc: msgkit.Service) -> set[str]:
    con = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{svc.dbname}")
    try:
        rows = await con.fetch("SELECT message_id FROM svcinfra_inbox")
    finally:
        await con.close()
    return {row["message_id"] for row in rows}


async def test_a_failing_handler_in_a_batch_rolls_back_alone(svc) -> None:
    """20 messages in one batch; the 8th writes then rejects, the 14th's SQL fails.

    Both are rolled back to their savepoints (no effect, no inbox row) and go their own way
    (the DLQ at once for `Reject`, after the retry tiers for the database error); the other
    18 commit together, once each, and are acked after the commit.
    """
    add = msgkit.effects_queries().query("effects__add")
    ids = await publish_all(svc, 20)
    rejected, bad_sql = ids[7], ids[13]
    calls: list[str] = []

    async def handler(tx: Transaction, delivery: Delivery) -> None:
        calls.append(delivery.message_id)
        await tx.exec(add, delivery.consumer, delivery.message_id, delivery.name, 1, None)
        if delivery.message_id == rejected:
            raise Reject("refused by the test")
        if delivery.message_id == bad_sql:  # a NOT NULL violation: the server aborts the tx
            await tx.exec(add, delivery.consumer, delivery.message_id, None, 1, None)

    consumer = make(svc, prefetch=50, batch_size=50, batch_linger=0.5)
    consumer.on(REGISTERED, handler)
    consumer.on(DELETED, handler)
    before_batches, before_messages = batches(svc.queue)
    processed = sample("svcinfra_amqp_messages_acked_total", message=REGISTERED,
                       queue=svc.queue, outcome="processed")  # fmt: skip
    async with running(consumer):
        await msgkit.until(lambda: _depth_of(svc, svc.dlq, 2))
        await msgkit.until(lambda: _effects_count(svc, 18))

    assert calls[:20] == ids  # one batch, in delivery order; then the retries of `bad_sql`
    assert set(calls[20:]) == {bad_sql}
    first_batch = batches(svc.queue)
    assert (first_batch[0] - before_batches, first_batch[1] - before_messages) == (
        1 + len(calls[20:]), 20 + len(calls[20:]),
    )  # fmt: skip
    assert await svc.effects() == {mid: 1 for mid in ids if mid not in (rejected, bad_sql)}
    assert await inbox_ids(svc) == set(ids) - {rejected, bad_sql}
    dead = {message.message_id: message.headers for message in await svc.take(svc.dlq)}
    assert dead.keys() == {rejected, bad_sql}
    assert (dead[rejected]["error-class"], dead[rejected]["error-type"]) == ("permanent", "Reject")
    assert (dead[bad_sql]["error-type"], dead[bad_sql]["attempts"]) == ("attempts-exhausted", 3)
    assert sample("svcinfra_amqp_messages_acked_total", message=REGISTERED, queue=svc.queue,
                  outcome="processed") == processed + 18  # fmt: skip
    assert await svc.depth(svc.queue) == 0


async def test_after_commit_callbacks_of_a_batch_wait_for_its_commit_and_a_failure_drops_its_own(
    svc,
) -> None:
    """A handler's `tx.after_commit` (an outbox dispatch) runs once the batch commits, after
    every handler of the batch ran; the callback of a handler rolled back to its savepoint never
    runs (it would announce what was undone)."""
    add = msgkit.effects_queries().query("effects__add")
    ids = await publish_all(svc, 10)
    rejected = ids[3]
    calls: list[str] = []
    committed: dict[str, int] = {}

    async def handler(tx: Transaction, delivery: Delivery) -> None:
        calls.append(delivery.message_id)
        await tx.exec(add, delivery.consumer, delivery.message_id, delivery.name, 1, None)
        mid = delivery.message_id
        tx.after_commit(lambda: committed.setdefault(mid, len(calls)))
        if mid == rejected:
            raise Reject("refused by the test")

    consumer = make(svc, prefetch=50, batch_size=50, batch_linger=0.5)
    consumer.on(REGISTERED, handler)
    consumer.on(DELETED, handler)
    async with running(consumer):
        await msgkit.until(lambda: _depth_of(svc, svc.dlq, 1))
        await msgkit.until(lambda: _effects_count(svc, 9))

    assert calls == ids  # one batch
    assert committed == {mid: 10 for mid in ids if mid != rejected}


async def test_a_failed_commit_acks_nothing_and_each_message_is_settled_alone(svc) -> None:
    """A deferred constraint breaks the batch's COMMIT: all 10 are requeued, none acked.

    Redelivered, each runs in its own transaction: the 9 innocent ones commit once each, the
    poison one fails its own commit and ends in the DLQ after its retries.
    """
    con = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{svc.dbname}")
    try:
        await con.execute(
            "CREATE TABLE notes (note text PRIMARY KEY);"
            "ALTER TABLE effects ADD CONSTRAINT effects_note FOREIGN KEY (note)"
            " REFERENCES notes (note) DEFERRABLE INITIALLY DEFERRED"
        )
    finally:
        await con.close()
    add = msgkit.effects_queries().query("effects__add")
    ids = await publish_all(svc, 10)
    poison = ids[4]
    committed_redelivered: list[tuple[str, bool]] = []

    async def handler(tx: Transaction, delivery: Delivery) -> None:
        note = "no such note" if delivery.message_id == poison else None
        await tx.exec(add, delivery.consumer, delivery.message_id, delivery.name, 1, note)
        committed_redelivered.append((delivery.message_id, delivery.redelivered))

    consumer = make(svc, prefetch=20, batch_size=20, batch_linger=0.5)
    consumer.on(REGISTERED, handler)
    consumer.on(DELETED, handler)
    failed = sample("svcinfra_amqp_inbox_batches_failed_total", queue=svc.queue)
    requeued = sample("svcinfra_amqp_messages_requeued_total", queue=svc.queue)
    async with running(consumer):
        await msgkit.until(lambda: _depth_of(svc, svc.dlq, 1))
        await msgkit.until(lambda: _effects_count(svc, 9))

    # The poison one's retries fail their batch of one each time too (and are requeued).
    assert sample("svcinfra_amqp_inbox_batches_failed_total", queue=svc.queue) >= failed + 1
    assert sample("svcinfra_amqp_messages_requeued_total", queue=svc.queue) >= requeued + 10
    assert await svc.effects() == {mid: 1 for mid in ids if mid != poison}
    assert poison not in await inbox_ids(svc)
    # The first run of each (in the failed batch) was not redelivered; the second was, alone.
    assert [mid for mid, again in committed_redelivered if not again][:10] == ids
    assert {mid for mid, again in committed_redelivered if again} == set(ids)
    (dead,) = await svc.take(svc.dlq)
    assert dead.message_id == poison
    assert await svc.depth(svc.queue) == 0


async def test_the_linger_closes_a_batch_that_does_not_fill(svc) -> None:
    """A trickle: 3 messages 50 ms apart share one batch; 4 sent 0.6 s apart get one each.

    A batch of size 50 never fills here: it closes `batch_linger` (0.3 s) after its first
    message, not earlier (the handler starts at least that long after the publish) and not
    much later.
    """
    linger = 0.3
    started: dict[str, float] = {}
    record = msgkit.make_recorder(msgkit.effects_queries())

    async def handler(tx: Transaction, delivery: Delivery) -> None:
        started[delivery.message_id] = time.monotonic()
        await record(tx, delivery)

    consumer = make(svc, prefetch=50, batch_size=50, batch_linger=linger)
    consumer.on(REGISTERED, handler)
    consumer.on(DELETED, handler)
    async with running(consumer):
        before = batches(svc.queue)
        close_together = []
        for _ in range(3):
            close_together.append(await svc.publish_json(msgkit.registered()))
            await asyncio.sleep(0.05)
        await msgkit.until(lambda: _effects_count(svc, 3))
        together = batches(svc.queue)
        published: dict[str, float] = {}
        for _ in range(4):
            sent = time.monotonic()
            mid = await svc.publish_json(msgkit.registered())
            assert mid is not None
            published[mid] = sent
            await asyncio.sleep(2 * linger)
        await msgkit.until(lambda: _effects_count(svc, 7))
        after = batches(svc.queue)

    assert (together[0] - before[0], together[1] - before[1]) == (1, 3)
    assert (after[0] - together[0], after[1] - together[1]) == (4, 4)
    waits = [started[mid] - sent for mid, sent in published.items()]
    assert all(linger <= wait < linger + 5.0 for wait in waits), waits


async def test_a_connection_killed_between_commit_and_ack_is_redelivered_and_deduped(
    svc,
) -> None:
    """The AMQP connection is reset right after a batch commits, before its acks are sent.

    The broker redelivers the batch's messages to the reconnected consumer; the inbox turns
    them into duplicates (acked without effect): 40 messages, one effect each.
    """
    ids = await publish_all(svc, 40)
    record = msgkit.make_recorder(msgkit.effects_queries())
    handled: list[str] = []

    async def handler(tx: Transaction, delivery: Delivery) -> None:
        handled.append(delivery.message_id)
        await record(tx, delivery)

    async with FaultProxy("127.0.0.1", 5672) as proxy:
        killed: list[int] = []

        def reset() -> None:
            killed.append(len(handled))
            proxy.reset_all()

        db = _ResetAfterFirstCommit(svc.db, reset)
        consumer = make(svc, db, url=f"amqp://guest:guest@127.0.0.1:{proxy.port}/",
                        prefetch=40, batch_size=40, batch_linger=0.3,
                        reconnect_delay=0.2)  # fmt: skip
        consumer.on(REGISTERED, handler)
        consumer.on(DELETED, handler)
        duplicates = sample("svcinfra_amqp_messages_acked_total", message=REGISTERED,
                            queue=svc.queue, outcome="duplicate")  # fmt: skip

        async with running(consumer):
            await msgkit.until(lambda: _effects_count(svc, 40))
            await msgkit.until(
                lambda: sample("svcinfra_amqp_messages_acked_total", message=REGISTERED,
                               queue=svc.queue, outcome="duplicate") >= duplicates + killed[0]
                if killed else False
            )  # fmt: skip

    (first_batch,) = killed
    assert first_batch >= 1
    assert await svc.effects() == dict.fromkeys(ids, 1)
    assert sample("svcinfra_amqp_messages_acked_total", message=REGISTERED, queue=svc.queue,
                  outcome="duplicate") >= duplicates + first_batch  # fmt: skip
    assert await svc.depth(svc.queue) == 0


class _ResetAfterFirstCommit:
    """The service's Database, with a hook run once right after a transaction commits."""

    def __init__(self, db: Any, hook: Any) -> None:
        self._db = db
        self._hook = hook
        self.fired = False

    def transaction(self, **options: Any) -> Any:
        return _HookedTransaction(self._db.transaction(**options), self)

    def fire(self) -> None:
        if not self.fired:
            self.fired = True
            self._hook()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


class _HookedTransaction:
    def __init__(self, inner: Any, owner: _ResetAfterFirstCommit) -> None:
        self._inner = inner
        self._owner = owner

    async def __aenter__(self) -> Any:
        return await self._inner.__aenter__()

    async def __aexit__(self, *exc: object) -> None:
        await self._inner.__aexit__(*exc)
        if exc[0] is None:
            self._owner.fire()  # synchronous: no ack can be written before the reset


async def _depth_of(svc: msgkit.Service, queue: str, count: int) -> bool:
    return await svc.depth(queue) >= count


async def _effects_count(svc: msgkit.Service, count: int) -> bool:
    return len(await svc.effects()) >= count


@pytest.mark.parametrize("options", [{"batch_size": 0}, {"batch_size": 65},
                                     {"batch_linger": -0.001}])  # fmt: skip
async def test_batch_bounds_out_of_range_are_refused(svc, options: dict[str, Any]) -> None:
    """Size 1..64 (PostgreSQL's cached subtransactions), a linger not negative."""
    with pytest.raises(ValueError, match=r"batch_size must be 1\.\.64"):
        make(svc, **options)


async def test_batch_size_one_is_a_transaction_per_message(svc) -> None:
    """`batch_size=1` turns batching off: no batch is counted, each message commits alone."""
    consumer = make(svc, batch_size=1)
    consumer.on(REGISTERED, msgkit.make_recorder(msgkit.effects_queries()))
    consumer.on(DELETED, msgkit.make_recorder(msgkit.effects_queries()))
    before = batches(svc.queue)
    ids = await publish_all(svc, 5)
    async with running(consumer):
        await msgkit.until(lambda: _effects_count(svc, 5))
    assert await svc.effects() == dict.fromkeys(ids, 1)
    assert batches(svc.queue) == before


async def test_a_handler_that_swallows_a_database_error_fails_alone(svc) -> None:
    """The 4th of 8 catches its own failed INSERT and returns: PostgreSQL aborted the
    transaction, so its savepoint's release fails; it is rolled back alone and retried
    (`AbortedByHandler`), and the 7 others, before and after it, commit once each."""
    add = msgkit.effects_queries().query("effects__add")
    ids = await publish_all(svc, 8)
    swallower = ids[3]

    async def handler(tx: Transaction, delivery: Delivery) -> None:
        await tx.exec(add, delivery.consumer, delivery.message_id, delivery.name, 1, None)
        if delivery.message_id == swallower:
            with contextlib.suppress(DatabaseError):  # a NOT NULL violation, caught
                await tx.exec(add, delivery.consumer, delivery.message_id, None, 1, None)

    consumer = make(svc, prefetch=20, batch_size=20, batch_linger=0.5)
    consumer.on(REGISTERED, handler)
    consumer.on(DELETED, handler)
    async with running(consumer):
        await msgkit.until(lambda: _depth_of(svc, svc.dlq, 1))
        await msgkit.until(lambda: _effects_count(svc, 7))

    assert await svc.effects() == {mid: 1 for mid in ids if mid != swallower}
    assert swallower not in await inbox_ids(svc)
    (dead,) = await svc.take(svc.dlq)
    assert dead.message_id == swallower
    assert dead.headers["error-type"] == "attempts-exhausted"
    assert "AbortedByHandler: the handler returned after a database error it caught" in str(
        dead.headers["error-message"]
    )
    assert await svc.depth(svc.queue) == 0


# --- the external mode's grouped inbox checks and recording transactions (`_external`) ---


def record_groups(consumer: str) -> tuple[float, float, float]:
    """(recording groups of 2+, messages in them, groups redone one by one) of `consumer`."""
    return (
        sample("svcinfra_amqp_record_group_size_count", consumer=consumer),
        sample("svcinfra_amqp_record_group_size_sum", consumer=consumer),
        sample("svcinfra_amqp_record_groups_redone_total", consumer=consumer),
    )


async def publish_deleted(svc: msgkit.Service, count: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(count)]
    for mid in ids:
        await svc.publish_json(msgkit.deleted(), routing_key=DELETED, message_type=DELETED,
                               message_id=mid)  # fmt: skip
    await msgkit.until(lambda: _depth_is(svc, count))
    return ids


class _Api:
    """An external API double whose calls are held until `release`: they end together."""

    def __init__(self, expected: int) -> None:
        self.calls: list[str] = []
        self._expected = expected
        self._release = asyncio.Event()

    async def call(self, delivery: Delivery) -> dict[str, object]:
        self.calls.append(delivery.message_id)
        if len(self.calls) >= self._expected:
            self._release.set()
        await self._release.wait()
        return {"sent": delivery.idempotency_key}


def external(
    svc: msgkit.Service, call: Any, record: Any, db: Any = None, **options: Any
) -> Consumer:
    """A consumer whose `DELETED` handler is `call` in the external mode, with `record`."""
    consumer = make(svc, db, **options)
    consumer.on(REGISTERED, msgkit.make_recorder(msgkit.effects_queries()))
    consumer.on_external(DELETED, call, record=record)
    return consumer


def recording(*, fail: str | None = None, swallow: str | None = None) -> Any:
    add = msgkit.effects_queries().query("effects__add")

    async def record(tx: Transaction, delivery: Delivery, result: object) -> None:
        assert isinstance(result, dict)
        await tx.exec(add, delivery.consumer, delivery.message_id, delivery.name, 1,
                      str(result["sent"]))  # fmt: skip
        if delivery.message_id == fail:
            raise Reject("the record refuses it")
        if delivery.message_id == swallow:
            with contextlib.suppress(DatabaseError):  # a NOT NULL violation, caught
                await tx.exec(add, delivery.consumer, delivery.message_id, None, 1, None)

    return record


@pytest.mark.parametrize("hook", ["record", "record_many"])
async def test_external_records_ending_together_commit_as_one_group(svc, hook: str) -> None:
    """20 calls end together: their inbox rows, results and records commit in one transaction.

    The records keep each message's result; one inbox statement and one COMMIT for all 20 (the
    group metric), each message acked once, its effect there once. With `record_many`, one call
    gets all 20.
    """
    api = _Api(expected=20)
    ids = await publish_deleted(svc, 20)
    calls: list[list[str]] = []
    if hook == "record_many":
        consumer = make(svc, prefetch=20)
        consumer.on(REGISTERED, msgkit.make_recorder(msgkit.effects_queries()))
        consumer.on_external(DELETED, api.call, record_many=recording_many(calls))
    else:
        consumer = external(svc, api.call, recording(), prefetch=20)
    name = f"{svc.prefix}-consumer"
    before = record_groups(name)
    async with running(consumer):
        await msgkit.until(lambda: _effects_count(svc, 20))
        await msgkit.until(lambda: _depth_is(svc, 0))

    groups, messages, redone = record_groups(name)
    assert (groups - before[0], messages - before[1], redone - before[2]) == (1, 20, 0)
    assert sorted(api.calls) == sorted(ids)
    assert await svc.effects() == dict.fromkeys(ids, 1)
    assert await _results(svc) == {mid: {"sent": f"{name}:{mid}"} for mid in ids}
    if hook == "record_many":
        assert [sorted(call) for call in calls] == [sorted(ids)]


async def test_a_failing_record_in_a_group_fails_alone_and_no_call_is_made_again(svc) -> None:
    """The 4th of 10 records raises: the group rolls back and is redone one by one.

    The 9 others commit once each, from the results their calls already returned (no call is
    made twice); the 4th goes its own way (`Reject`: the DLQ), with no inbox row.
    """
    api = _Api(expected=10)
    ids = await publish_deleted(svc, 10)
    failing = ids[3]
    consumer = external(svc, api.call, recording(fail=failing), prefetch=10)
    name = f"{svc.prefix}-consumer"
    before = record_groups(name)
    async with running(consumer):
        await msgkit.until(lambda: _depth_of(svc, svc.dlq, 1))
        await msgkit.until(lambda: _effects_count(svc, 9))
        await msgkit.until(lambda: _depth_is(svc, 0))

    assert record_groups(name)[2] - before[2] == 1
    assert sorted(api.calls) == sorted(ids)  # once each: the redo reused the results
    assert await svc.effects() == {mid: 1 for mid in ids if mid != failing}
    assert await inbox_ids(svc) == set(ids) - {failing}
    (dead,) = await svc.take(svc.dlq)
    assert (dead.message_id, dead.headers["error-type"]) == (failing, "Reject")


async def test_a_record_that_swallows_a_database_error_does_not_sink_its_group(svc) -> None:
    """The 3rd of 8 records catches its own failed INSERT: PostgreSQL aborted the group.

    The COMMIT answers ROLLBACK (`TransactionAborted`), so nothing was acked; redone one by one,
    the 7 others commit once each and the swallower alone fails each attempt, then the DLQ.
    """
    api = _Api(expected=8)
    ids = await publish_deleted(svc, 8)
    swallower = ids[2]
    consumer = external(svc, api.call, recording(swallow=swallower), prefetch=8)
    async with running(consumer):
        await msgkit.until(lambda: _depth_of(svc, svc.dlq, 1))
        await msgkit.until(lambda: _effects_count(svc, 7))

    assert await svc.effects() == {mid: 1 for mid in ids if mid != swallower}
    assert await inbox_ids(svc) == set(ids) - {swallower}
    assert sorted(set(api.calls)) == sorted(ids)
    assert api.calls.count(swallower) == 3  # its own attempts; the others were called once
    assert len(api.calls) == 8 + 2
    (dead,) = await svc.take(svc.dlq)
    assert (dead.message_id, dead.headers["error-type"]) == (swallower, "attempts-exhausted")
    assert "TransactionAborted" in str(dead.headers["error-message"])


async def test_a_database_connection_killed_during_a_group_loses_and_repeats_nothing(
    svc,
) -> None:
    """The recording group's connection is reset mid-transaction (PostgreSQL through a proxy).

    The group fails, and its redo fails too while the proxy refuses; the messages go to their
    retry tier, come back, find no inbox row and are called again with the same idempotency
    key, then recorded: 12 effects, once each, and every call of a message carried one key.
    """
    api_keys: dict[str, set[str]] = {}
    api = _Api(expected=12)

    async def call(delivery: Delivery) -> dict[str, object]:
        api_keys.setdefault(delivery.message_id, set()).add(delivery.idempotency_key)
        return await api.call(delivery)

    add = msgkit.effects_queries().query("effects__add")

    async with FaultProxy("127.0.0.1", 5432) as proxy:
        db = await Database.connect(msgkit.settings(svc.dbname, port=proxy.port))
        try:
            resets: list[int] = []

            async def record(tx: Transaction, delivery: Delivery, result: object) -> None:
                await tx.exec(add, delivery.consumer, delivery.message_id, delivery.name, 1,
                              str(result))  # fmt: skip
                if not resets:  # the first record of the first group: mid-transaction
                    resets.append(1)
                    proxy.reset_all()

            ids = await publish_deleted(svc, 12)
            consumer = external(svc, call, record, db=db, prefetch=12)
            async with running(consumer):
                await msgkit.until(lambda: _effects_count(svc, 12))
                await msgkit.until(lambda: _depth_is(svc, 0))
        finally:
            await db.close()

    assert resets == [1]
    assert await svc.effects() == dict.fromkeys(ids, 1)
    assert await inbox_ids(svc) == set(ids)
    assert all(len(keys) == 1 for keys in api_keys.values())  # repeats kept the same key
    assert set(api_keys) == set(ids)


async def test_inbox_checks_of_messages_arriving_together_find_the_recorded_ones(svc) -> None:
    """10 messages whose ids were recorded before, mixed with 10 new ones, arrive together:
    the grouped checks ack the 10 without a call; the 10 new ones are called and recorded."""
    api = _Api(expected=10)
    old = await publish_deleted(svc, 10)
    consumer = external(svc, api.call, recording(), prefetch=20)
    async with running(consumer):
        await msgkit.until(lambda: _effects_count(svc, 10))
        await msgkit.until(lambda: _depth_is(svc, 0))
    api.calls.clear()
    consumer.stop()

    new = [str(uuid.uuid4()) for _ in range(10)]
    for mid in [m for pair in zip(old, new, strict=True) for m in pair]:
        await svc.publish_json(msgkit.deleted(), routing_key=DELETED, message_type=DELETED,
                               message_id=mid)  # fmt: skip
    await msgkit.until(lambda: _depth_is(svc, 20))
    again = external(svc, api.call, recording(), prefetch=20)
    duplicates = sample("svcinfra_amqp_messages_acked_total", message=DELETED, queue=svc.queue,
                        outcome="duplicate")  # fmt: skip
    async with running(again):
        await msgkit.until(lambda: _effects_count(svc, 20))
        await msgkit.until(lambda: _depth_is(svc, 0))

    assert sorted(api.calls) == sorted(new)
    assert sample("svcinfra_amqp_messages_acked_total", message=DELETED, queue=svc.queue,
                  outcome="duplicate") == duplicates + 10  # fmt: skip
    assert await svc.effects() == dict.fromkeys(old + new, 1)


async def _results(svc: msgkit.Service) -> dict[str, object]:
    con = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:5432/{svc.dbname}")
    try:
        rows = await con.fetch("SELECT message_id, result::text FROM svcinfra_inbox")
    finally:
        await con.close()
    return {row["message_id"]: json.loads(row["result"]) for row in rows}


def recording_many(calls: list[list[str]], *, fail: str | None = None) -> Any:
    """A `record_many` that notes each call's message ids and refuses a group holding `fail`."""
    add = msgkit.effects_queries().query("effects__add")

    async def record_many(tx: Transaction, items: Sequence[tuple[Delivery, object]]) -> None:
        ids = [delivery.message_id for delivery, _ in items]
        calls.append(ids)
        for delivery, result in items:
            assert isinstance(result, dict)
            await tx.exec(add, delivery.consumer, delivery.message_id, delivery.name, 1,
                          str(result["sent"]))  # fmt: skip
        if fail in ids:
            raise Reject("the record refuses it")

    return record_many


async def test_a_failing_record_many_is_redone_one_message_at_a_time(svc) -> None:
    """`record_many` refuses the group of 10 (one message is bad): rolled back, then each
    message is recorded alone with a one-item call; the 9 others commit once, the bad one goes
    to the DLQ with no inbox row, and no call to the API is made twice."""
    api = _Api(expected=10)
    ids = await publish_deleted(svc, 10)
    failing = ids[6]
    calls: list[list[str]] = []
    consumer = make(svc, prefetch=10)
    consumer.on(REGISTERED, msgkit.make_recorder(msgkit.effects_queries()))
    consumer.on_external(DELETED, api.call, record_many=recording_many(calls, fail=failing))
    async with running(consumer):
        await msgkit.until(lambda: _depth_of(svc, svc.dlq, 1))
        await msgkit.until(lambda: _effects_count(svc, 9))
        await msgkit.until(lambda: _depth_is(svc, 0))

    assert sorted(calls[0]) == sorted(ids)
    assert sorted(calls[1:]) == sorted([mid] for mid in ids)
    assert sorted(api.calls) == sorted(ids)
    assert await svc.effects() == {mid: 1 for mid in ids if mid != failing}
    assert await inbox_ids(svc) == set(ids) - {failing}
    (dead,) = await svc.take(svc.dlq)
    assert (dead.message_id, dead.headers["error-type"]) == (failing, "Reject")


async def test_record_and_record_many_together_are_refused(svc) -> None:
    """One way to record a message's name: both hooks at once is a registration error."""
    consumer = make(svc)
    with pytest.raises(MessagingError, match=f"{DELETED}: give record or record_many"):
        consumer.on_external(DELETED, _Api(1).call, record=recording(),
                             record_many=recording_many([]))  # fmt: skip
