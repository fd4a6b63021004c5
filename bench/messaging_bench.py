"""Benchmark: `svcinfra.messaging.Publisher` vs raw aio-pika publishing, alternating in one run.

Both publish persistent ~200-byte JSON messages to the same durable topic exchange, bound to one
durable queue (a quorum queue, the library's default since issue 16; then the same sections on a
classic queue, to show what quorum costs: `--queue-types`), on RabbitMQ at 127.0.0.1:5672, with
publisher confirms and `mandatory`, keeping the same number of unconfirmed messages in flight
(the confirm window: 1 = each publish awaited before the next; 100 = batches of 100 concurrent
publishes, each awaiting its own confirm).
Raw aio-pika JSON-encodes the payload and sets a message_id, persistence and the content type,
nothing else. Ours adds, per message, what MQ-2/4/5/6/11 ask for: a schema validation against
the contract (compiled once), a uuid4 message_id, type / version headers, correlation id and
timestamp, the confirm timeout, the trace context check (no tracer provider is configured here,
so no span is opened; with one, a PRODUCER span adds its own cost), five metric updates and the
retry loop's bookkeeping; logs go through the production JSON pipeline at INFO (the success
line is DEBUG, so it is dropped). The CPU columns are this process's CPU time per message.
The publish section is `messaging_publish_bench.py`'s harness: the order of the paths alternates
from round to round, the table shows medians, and the queue is purged before every run.

Further sections (`--sections`): consume + ack through the svcinfra Consumer (contract checks,
inbox row and handler in one PostgreSQL transaction, ack) vs raw aio-pika consume + ack (no
dedupe) vs FastStream 0.7 (logger off, same prefetch, no dedupe) vs FastStream with the same
guarantee written in its handler (asyncpg pool; BEGIN, the same inbox INSERT ... ON CONFLICT DO
NOTHING, COMMIT; then the ack). Each round consumes the same `count` persistent messages per
path, in turn, from a freshly filled queue; every path's clock includes its AMQP connection
set-up, none a database pool's. Then publishing through ours vs FastStream (confirms on, window
100); and outbox -> relay -> broker events per second.

Section `external`: the external-effect mode (`Consumer.on_external`: inbox check, the call with
no transaction open, then the recording transaction with the inbox row and its result), with
the checks and recordings grouped (the default, `batch_size` 50) vs one statement and one
transaction per message (`batch_size=1`), next to raw aio-pika consume + ack (no dedupe, no
call); the call is a stand-in that returns at once, or after 3 ms (a fast API's answer).

Section `recording`: the same mode, grouped, whose recording also writes one outbox row per
message (an event announcing it, as notifications' `notification.sent.v1`): `record` with
`Outbox.add` per message vs `record_many` with one `Outbox.add_many` per group (issue 19), in
alternating order from round to round.

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
from typing import TYPE_CHECKING, Any

import aio_pika
import asyncpg
from faststream.rabbit import (
    Channel,
    ExchangeType,
    RabbitBroker,
    RabbitExchange,
    RabbitQueue,
)
from faststream.rabbit.annotations import RabbitMessage  # noqa: TC002  (resolved at run time)

# The publish harness, its fixtures and helpers live in messaging_publish_bench.py (same folder:
# the script's own directory is on sys.path when it runs).
from messaging_publish_bench import (
    CONTRACT,
    EVENT,
    PAYLOAD,
    QUEUE_TYPES,
    URL,
    USERS,
    contract_for,
    print_publish,
    run_publish,
    throughput,
)
from prometheus_client import REGISTRY
from pydantic import SecretStr

from svcinfra.config import PostgresSettings
from svcinfra.messaging import Publisher, declare_topology
from svcinfra.messaging.consumer import Consumer
from svcinfra.messaging.outbox import Outbox, OutboxMessage, Relay
from svcinfra.messaging.storage import migrations, queries
from svcinfra.messaging.topology import Topology
from svcinfra.observability import configure_logging
from svcinfra.postgres import Database
from svcinfra.postgres.migrate import Migrator, load_migrations

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

PUBLISH_ROUNDS = 6  # as messaging_publish_bench.py, whose fair harness the publish section runs
ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
HEADERS = {"message-version": 1}


async def _fill(channel: aio_pika.abc.AbstractChannel, exchange: str, count: int) -> None:
    """Publish `count` valid messages with unique ids (confirmed, window 100)."""
    target = await channel.get_exchange(exchange, ensure=False)
    body = json.dumps(PAYLOAD, separators=(",", ":")).encode()

    async def one() -> object:
        return await target.publish(
            aio_pika.Message(
                body,
                message_id=str(uuid.uuid4()),
                type=EVENT,
                headers=HEADERS,
                content_type="application/json",
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            ),
            EVENT,
            mandatory=True,
        )

    for _ in range(count // 100):
        await asyncio.gather(*(one() for _ in range(100)))


async def _raw_consume(queue_name: str, count: int, prefetch: int) -> tuple[float, float]:
    """Raw aio-pika, no dedupe: consume and ack `count` messages.

    Returns messages per second and this process's CPU microseconds per message. Like every
    consume path here, the clock runs from before the AMQP connection is opened until the
    broker has every ack and the connection is closed: after the `count`-th ack, one round
    trip on the consuming channel (`basic.qos` again; its `qos-ok` comes after every ack sent
    before it: an ack is fire-and-forget, and aiormq may drop frames still queued when the
    connection closes), then the close. The queue is then checked empty with nothing unacked
    (`_settled`, outside the clock).
    """
    done = asyncio.Event()
    seen = 0
    started, cpu = time.perf_counter(), time.process_time()
    connection = await aio_pika.connect(URL)
    async with connection:
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=prefetch)
        queue = await channel.get_queue(queue_name, ensure=False)

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal seen
            await message.ack()
            seen += 1
            if seen == count:
                done.set()

        await queue.consume(on_message)
        await done.wait()
        await channel.set_qos(prefetch_count=prefetch)  # qos-ok: the broker has the acks
    elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
    return count / elapsed, cpu_used / count * 1e6


Row = tuple[float, float]  # messages per second, CPU microseconds per message


def _acked(queue_name: str) -> float:
    """Messages of `queue_name` svcinfra's consumers acked as processed so far."""
    labels = {"message": EVENT, "queue": queue_name, "outcome": "processed"}
    return REGISTRY.get_sample_value("svcinfra_amqp_messages_acked_total", labels) or 0.0


async def _timed(
    consumer: Consumer, queue_name: str, count: int, done: Callable[[float], Awaitable[object]]
) -> Row:
    """Run `consumer` until `done(acks to reach)` returns, then stop it; the rate and CPU.

    `stop` lets the last batch commit, sends the acks, makes sure the broker has them (a
    `basic.qos` round trip on each consuming channel) and closes the connection, as for the
    other paths.
    """
    before = _acked(queue_name)
    started, cpu = time.perf_counter(), time.process_time()
    task = asyncio.create_task(consumer.run())
    waiting = asyncio.ensure_future(done(before + count))
    await asyncio.wait([waiting, task], return_when=asyncio.FIRST_COMPLETED)
    if not waiting.done():  # the consumer ended first: its error is the run's
        waiting.cancel()
        task.result()
        raise RuntimeError("the consumer stopped before acking every message")
    consumer.stop()
    await task
    elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
    if _acked(queue_name) != before + count:
        raise RuntimeError(f"svcinfra acked {_acked(queue_name) - before:g} messages, not {count}")
    return count / elapsed, cpu_used / count * 1e6


async def _our_consume(contract: object, db: object, queue_name: str, count: int,
                       prefetch: int, **options: int) -> Row:  # fmt: skip
    """svcinfra Consumer: checks, inbox row + handler in a transaction (batched), ack.

    The handler counts its runs (cheap); once it has run `count` times the consumer is
    stopped (`_timed`). `options` go to `Consumer` (`batch_size=1`: one transaction per
    message).
    """
    ran = asyncio.Event()
    seen = 0

    async def handler(*_: object) -> None:  # the inbox row is the only effect
        nonlocal seen
        seen += 1
        if seen == count:
            ran.set()

    consumer = Consumer(contract, db, url=URL, name="bench", prefetch=prefetch, **options)  # type: ignore[arg-type]
    consumer.on(EVENT, handler)
    return await _timed(consumer, queue_name, count, lambda _: ran.wait())


async def _our_external_consume(contract: object, db: object, queue_name: str, count: int,
                                prefetch: int, *, call_ms: float, outbox: Outbox | None = None,
                                many: bool = False, **options: int,
                                ) -> Row:  # fmt: skip
    """svcinfra Consumer, external mode: inbox check, the call, the recording transaction, ack.

    With `outbox`, each message's recording also writes one outbox row (an event announcing
    it, as notifications does): with `record`, `Outbox.add` per message; with `many`, one
    `record_many` call per group and `Outbox.add_many`. Stopped (`_timed`) once every message
    was acked, i.e. after its recording committed.
    """

    async def record(tx: Any, delivery: Any, result: object) -> None:  # noqa: ANN401, ARG001
        assert outbox is not None  # noqa: S101
        await outbox.add(tx, EVENT, PAYLOAD, correlation_id=delivery.message_id)

    async def record_many(tx: Any, items: Any) -> None:  # noqa: ANN401
        assert outbox is not None  # noqa: S101
        await outbox.add_many(
            tx, [OutboxMessage(EVENT, PAYLOAD, correlation_id=d.message_id) for d, _ in items]
        )

    async def call(delivery: Any) -> dict[str, str]:  # noqa: ANN401  (a Delivery)
        if call_ms:
            await asyncio.sleep(call_ms / 1000)
        return {"sent": delivery.idempotency_key}

    async def all_acked(target: float) -> None:
        while _acked(queue_name) < target:  # noqa: ASYNC110  (a metric, polled)
            await asyncio.sleep(0.002)

    consumer = Consumer(contract, db, url=URL, name="bench", prefetch=prefetch, **options)  # type: ignore[arg-type]
    if outbox is None:
        consumer.on_external(EVENT, call)
    elif many:
        consumer.on_external(EVENT, call, record_many=record_many)
    else:
        consumer.on_external(EVENT, call, record=record)
    return await _timed(consumer, queue_name, count, all_acked)


async def _run_external(
    *, count: int, rounds: int, prefetches: list[int]
) -> list[tuple[int, float, list[tuple[float, float]]]]:
    """External mode: raw aio-pika vs ours grouped vs ours per message, in turn per round."""
    prefix = f"benchx{os.getpid()}"
    contract = contract_for(CONTRACT, prefix, "quorum")
    topology = Topology.from_contract(contract)  # type: ignore[arg-type]
    queue_name = f"{prefix}.notifications.user-events"
    exchange = f"{prefix}.users.events"
    dbname = f"benchx_{os.getpid()}"
    db = await _database(dbname)
    rows: list[tuple[int, float, list[tuple[float, float]]]] = []
    try:
        async with await aio_pika.connect(URL) as connection:
            await declare_topology(connection, topology)
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name, passive=True)
            for prefetch in prefetches:
                for call_ms in (0.0, 3.0):

                    def grouped(p: int = prefetch, c: float = call_ms) -> Awaitable[Row]:
                        return _our_external_consume(contract, db, queue_name, count, p, call_ms=c)

                    def alone(p: int = prefetch, c: float = call_ms) -> Awaitable[Row]:
                        return _our_external_consume(
                            contract, db, queue_name, count, p, call_ms=c, batch_size=1
                        )

                    def raw(p: int = prefetch) -> Awaitable[Row]:
                        return _raw_consume(queue_name, count, p)

                    paths: list[Callable[[], Awaitable[Row]]] = [raw, grouped, alone]
                    runs: list[list[tuple[float, float]]] = [[] for _ in paths]
                    for _ in range(rounds):
                        for path, (path_runs, consume) in enumerate(zip(runs, paths, strict=True)):
                            await queue.purge()
                            await _fill(channel, exchange, count)
                            path_runs.append(await consume())
                            await _settled(channel, queue_name, path)
                    rows.append((prefetch, call_ms, _medians(runs)))
            for declared in topology.queues:
                await channel.queue_delete(declared.name)
            await channel.exchange_delete(exchange)
    finally:
        await db.close()  # type: ignore[attr-defined]
        await _drop_database(dbname)
    return rows


def _medians(runs: list[list[Row]]) -> list[Row]:
    """Each path's median rate and median CPU over its rounds."""
    return [
        (statistics.median(r for r, _ in path_runs), statistics.median(c for _, c in path_runs))
        for path_runs in runs
    ]


async def _run_recording(*, count: int, rounds: int) -> list[tuple[float, list[Row]]]:
    """External mode with an outbox row per message: `record` vs `record_many`, in turn."""
    prefix = f"benchr{os.getpid()}"
    contract = contract_for(CONTRACT, prefix, "quorum")
    outbox = Outbox(contract_for(USERS, prefix))  # type: ignore[arg-type]
    topology = Topology.from_contract(contract)  # type: ignore[arg-type]
    queue_name = f"{prefix}.notifications.user-events"
    exchange = f"{prefix}.users.events"
    dbname = f"benchr_{os.getpid()}"
    db = await _database(dbname)
    rows: list[tuple[float, list[Row]]] = []
    try:
        async with await aio_pika.connect(URL) as connection:
            await declare_topology(connection, topology)
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name, passive=True)
            for call_ms in (0.0, 3.0):
                runs: list[list[Row]] = [[], []]
                for round_ in range(rounds):
                    order = [False, True] if round_ % 2 == 0 else [True, False]
                    for many in order:
                        await queue.purge()
                        await _fill(channel, exchange, count)
                        runs[many].append(await _our_external_consume(
                            contract, db, queue_name, count, 100, call_ms=call_ms,
                            outbox=outbox, many=many,
                        ))  # fmt: skip
                        await _settled(channel, queue_name, 1)
                rows.append((call_ms, _medians(runs)))
            for declared in topology.queues:
                await channel.queue_delete(declared.name)
            await channel.exchange_delete(exchange)
    finally:
        await db.close()  # type: ignore[attr-defined]
        await _drop_database(dbname)
    return rows


def _print_recording(rows: list[tuple[float, list[Row]]], count: int, rounds: int) -> None:
    print(
        f"\nexternal-effect mode, grouped, with an outbox row per message in the recording "
        f"transaction, prefetch 100, {count} messages per round, median of {rounds} rounds "
        "(alternating): `record` (Outbox.add per message) / `record_many` (Outbox.add_many "
        "per group)"
    )
    print(f"{'call':>5} | {'record msg/s':>12} | {'record_many msg/s':>17} | "
          "CPU us/msg record / record_many | CPU ratio")  # fmt: skip
    for call_ms, ((one, one_cpu), (many, many_cpu)) in rows:
        print(
            f"{call_ms:>3.0f}ms | {one:>12,.0f} | {many:>17,.0f} | "
            f"{one_cpu:>14,.0f} / {many_cpu:,.0f} | {one_cpu / many_cpu:9.2f}"
        )


def _print_external(
    rows: list[tuple[int, float, list[tuple[float, float]]]], count: int, rounds: int
) -> None:
    print(
        f"\nexternal-effect mode (inbox check, call, recording transaction, ack) from a quorum "
        f"queue, {count} messages per round, median of {rounds} rounds (raw aio-pika without "
        "dedupe or call / ours grouped / ours one statement and transaction per message)"
    )
    print(
        f"{'prefetch':>8} | {'call':>5} | {'raw aio-pika':>12} | {'ours grouped':>12} | "
        f"{'ours 1 tx/msg':>13} | grouped / 1 tx | CPU us/msg raw / grouped / 1 tx | CPU ratio"
    )
    for prefetch, call_ms, paths in rows:
        (raw, raw_cpu), (grouped, grouped_cpu), (one, one_cpu) = paths
        print(
            f"{prefetch:>8} | {call_ms:>3.0f}ms | {raw:>12,.0f} | {grouped:>12,.0f} | "
            f"{one:>13,.0f} | {grouped / one:14.2f} | {raw_cpu:,.0f} / {grouped_cpu:,.0f} / "
            f"{one_cpu:,.0f} | {one_cpu / grouped_cpu:9.2f}"
        )


async def _settled(channel: aio_pika.abc.AbstractChannel, queue_name: str, path: int) -> None:
    """Raise unless `queue_name` is empty with nothing unacked (after a path's connection closed).

    A message left unacked when its consumer's connection closed goes back to the queue (a
    quorum queue may take a moment: the queue is looked at for 0.1 s), so an empty queue means
    every ack arrived.
    """
    for _ in range(20):
        declared = await channel.declare_queue(queue_name, passive=True)
        left = declared.declaration_result.message_count
        if left:
            raise RuntimeError(f"{queue_name}: consume path {path} left {left} messages")
        await asyncio.sleep(0.005)


async def _no_reset(_: object) -> None:
    """asyncpg's pool `reset`: nothing to reset (one transaction, no session state)."""


async def _faststream_consume(
    queue_name: str, count: int, prefetch: int, *, inbox_dsn: str | None = None
) -> tuple[float, float]:
    """FastStream (logger off), same prefetch: consume and ack `count` messages.

    Without `inbox_dsn`, no dedupe. With it, the equivalent guarantee done by hand in the
    handler: an asyncpg pool (opened before the clock starts, like ours), and per message one
    transaction with the same `INSERT ... ON CONFLICT DO NOTHING` into the same inbox table,
    then the ack. The pool skips asyncpg's reset query on release (the handler leaves no
    session state), so the database work is ours: BEGIN, INSERT, COMMIT. The handler acks
    itself (what the default ack policy does after it returns); after the `count`-th ack, a
    round trip on its channel (the broker has the acks) and the broker's stop (its connection
    closed) end the clock, as for the other paths.
    """

    done = asyncio.Event()
    seen = 0
    consuming: Any = None  # the consuming channel (aiormq's), for the closing round trip
    broker = RabbitBroker(URL, logger=None)
    pool = None
    if inbox_dsn is not None:  # without asyncpg's reset round trip on release, as ours
        pool = await asyncpg.create_pool(inbox_dsn, min_size=4, max_size=20, reset=_no_reset)
    insert = queries().query("inbox__add").sql

    @broker.subscriber(
        RabbitQueue(queue_name, declare=False), channel=Channel(prefetch_count=prefetch)
    )
    async def handle(_: dict, message: RabbitMessage) -> None:  # type: ignore[type-arg]
        nonlocal seen, consuming
        if pool is not None:
            async with pool.acquire() as con, con.transaction():
                await con.execute(insert, "bench-faststream", message.message_id, EVENT, None)
        await message.ack()
        seen += 1
        if seen == count:
            consuming = message.raw_message.channel
            done.set()

    started, cpu = time.perf_counter(), time.process_time()
    await broker.start()
    await done.wait()
    await consuming.basic_qos(prefetch_count=prefetch)  # qos-ok: the broker has the acks
    await broker.stop()  # closes the connection: the broker's close-ok follows the acks
    elapsed, cpu_used = time.perf_counter() - started, time.process_time() - cpu
    if pool is not None:
        await pool.close()
    return count / elapsed, cpu_used / count * 1e6


async def _faststream_publish(exchange: str, count: int, window: int) -> float:
    """FastStream (logger off, confirms on by default): publish with a window; messages/s."""

    broker = RabbitBroker(URL, logger=None)
    await broker.connect()
    target = RabbitExchange(exchange, type=ExchangeType.TOPIC, declare=False)

    async def one() -> object:
        return await broker.publish(
            PAYLOAD, exchange=target, routing_key=EVENT, persist=True, mandatory=True,
            message_id=str(uuid.uuid4()), correlation_id="bench",
        )  # fmt: skip

    started = time.perf_counter()
    for _ in range(count // window):
        await asyncio.gather(*(one() for _ in range(window)))
    elapsed = time.perf_counter() - started
    await broker.stop()
    return count / elapsed


async def _database(name: str) -> object:
    """Create database `name` with the outbox and inbox tables; return a connected Database."""

    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    await Migrator(load_migrations(migrations()), f"postgresql://postgres@127.0.0.1/{name}").up()
    settings = PostgresSettings.model_validate({
        "host": "127.0.0.1", "user": "postgres", "password": SecretStr(""), "db": name,
        "sslmode": "disable", "pool_min_size": 4, "pool_max_size": 20,
    })  # fmt: skip
    return await Database.connect(settings)


async def _drop_database(name: str) -> None:

    admin = await asyncpg.connect(ADMIN_DSN)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


ConsumeRow = tuple[int, list[tuple[float, float]]]
"""Prefetch, then (msg/s, CPU us/msg) of raw, ours (batched), FastStream, FastStream + inbox,
ours with a transaction per message (`batch_size=1`)."""


async def _run_consume(
    *, count: int, rounds: int, prefetches: list[int], queue_type: str = "quorum"
) -> tuple[list[ConsumeRow], list[tuple[int, float, float, float]]]:
    """Consume + ack: raw aio-pika vs ours (inbox) vs FastStream; and publish vs FastStream."""
    prefix = f"benchc{os.getpid()}{queue_type}"
    contract = contract_for(CONTRACT, prefix, queue_type)
    users = contract_for(USERS, prefix)
    topology = Topology.from_contract(contract)  # type: ignore[arg-type]
    queue_name = f"{prefix}.notifications.user-events"
    exchange = f"{prefix}.users.events"
    dbname = f"bench_{os.getpid()}"
    db = await _database(dbname)
    connection = await aio_pika.connect(URL)
    consume_rows: list[ConsumeRow] = []
    publish_rows: list[tuple[int, float, float, float]] = []
    try:
        async with connection:
            await declare_topology(connection, topology)
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name, passive=True)
            dsn = f"postgresql://postgres@127.0.0.1/{dbname}"
            for prefetch in prefetches:
                paths: list[Callable[[int], Awaitable[tuple[float, float]]]] = [
                    lambda p: _raw_consume(queue_name, count, p),
                    lambda p: _our_consume(contract, db, queue_name, count, p),
                    lambda p: _faststream_consume(queue_name, count, p),
                    lambda p: _faststream_consume(queue_name, count, p, inbox_dsn=dsn),
                    lambda p: _our_consume(contract, db, queue_name, count, p, batch_size=1),
                ]
                runs: list[list[tuple[float, float]]] = [[] for _ in paths]
                for _ in range(rounds):
                    for path, (path_runs, consume) in enumerate(zip(runs, paths, strict=True)):
                        await queue.purge()
                        await _fill(channel, exchange, count)
                        path_runs.append(await consume(prefetch))
                        await _settled(channel, queue_name, path)  # all taken and acked
                consume_rows.append((prefetch, [
                    (statistics.median(r for r, _ in path_runs),
                     statistics.median(c for _, c in path_runs))
                    for path_runs in runs
                ]))  # fmt: skip
            await queue.purge()
            async with Publisher(users, url=URL, name="bench") as publisher:  # type: ignore[arg-type]

                async def ours() -> object:
                    return await publisher.publish(EVENT, PAYLOAD, correlation_id="bench")

                for window in (100,):
                    our_runs, fs_runs = [], []
                    for _ in range(rounds):
                        await queue.purge()
                        our_runs.append((await throughput(ours, count, window))[0])
                        await queue.purge()
                        fs_runs.append(await _faststream_publish(exchange, count, window))
                    publish_rows.append((window, statistics.median(our_runs),
                                         statistics.median(fs_runs), 0.0))  # fmt: skip
            for declared in topology.queues:
                await channel.queue_delete(declared.name)
            await channel.exchange_delete(exchange)
    finally:
        await db.close()  # type: ignore[attr-defined]
        await _drop_database(dbname)
    return consume_rows, publish_rows


async def _run_outbox(*, count: int, rounds: int) -> list[tuple[str, float]]:
    """Outbox -> relay -> broker: events per second, end to end."""

    prefix = f"bencho{os.getpid()}"
    consumer_contract = contract_for(CONTRACT, prefix)
    users = contract_for(USERS, prefix)
    topology = Topology.from_contract(consumer_contract)  # type: ignore[arg-type]
    queue_name = f"{prefix}.notifications.user-events"
    dbname = f"bencho_{os.getpid()}"
    db: Any = await _database(dbname)
    outbox = Outbox(users)  # type: ignore[arg-type]
    pending = queries().query("outbox__pending")
    connection = await aio_pika.connect(URL)
    prefilled, live = [], []
    try:
        async with connection, Publisher(users, url=URL, name="bench-relay") as publisher:  # type: ignore[arg-type]
            await declare_topology(connection, topology)
            channel = await connection.channel()
            queue = await channel.declare_queue(queue_name, passive=True)

            async def write(events: int) -> None:
                for _ in range(events):  # one event per business transaction
                    async with db.transaction() as tx:
                        await outbox.add(tx, EVENT, PAYLOAD, correlation_id="bench")

            async def drained() -> None:
                while await db.one(pending, row=int):  # noqa: ASYNC110  (polls the table)
                    await asyncio.sleep(0.005)

            for _ in range(rounds):
                # Pre-filled: the relay alone, draining `count` committed rows.
                await queue.purge()
                await asyncio.gather(*(write(count // 10) for _ in range(10)))
                relay = Relay(db, publisher, batch_size=100, poll_interval=0.05)
                started = time.perf_counter()
                task = asyncio.create_task(relay.run())
                await drained()
                prefilled.append(count / (time.perf_counter() - started))
                relay.stop()
                await task
                # Live: 10 writers committing one event per transaction while the relay runs.
                await queue.purge()
                relay = Relay(db, publisher, listen_dsn=f"postgresql://postgres@127.0.0.1/{dbname}",
                              batch_size=100, poll_interval=1.0)  # fmt: skip
                task = asyncio.create_task(relay.run())
                started = time.perf_counter()
                await asyncio.gather(*(write(count // 10) for _ in range(10)))
                await drained()
                live.append(count / (time.perf_counter() - started))
                relay.stop()
                await task
            await queue.purge()
            for declared in topology.queues:
                await channel.queue_delete(declared.name)
            await channel.exchange_delete(f"{prefix}.users.events")
    finally:
        await db.close()
        await _drop_database(dbname)
    return [
        ("relay draining pre-committed rows", statistics.median(prefilled)),
        ("10 writers (1 event/tx) + relay, commit to confirm", statistics.median(live)),
    ]


def main() -> None:
    """Run the benchmark and print the tables."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument(
        "--queue-types",
        default=",".join(QUEUE_TYPES),
        help="comma-separated queue types to run publish and consume on (quorum: the default)",
    )
    parser.add_argument(
        "--sections",
        default="publish,consume,outbox,external,recording",
        help="comma-separated: publish (ours vs raw), consume (with FastStream), outbox, "
        "external (the external-effect mode, grouped vs per message), recording (an outbox "
        "row per message: record vs record_many)",
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    count = 600 if args.quick else 3000
    with Path(os.devnull).open("w", encoding="utf-8") as sink:
        configure_logging(service="bench", level="INFO", stream=sink)
        for queue_type in args.queue_types.split(","):
            if "publish" in sections:
                publish_rounds = 2 if args.quick else PUBLISH_ROUNDS
                rows = asyncio.run(
                    run_publish(
                        count=count, rounds=publish_rounds, windows=[1, 100], queue_type=queue_type
                    )
                )
                print_publish(rows, count, publish_rounds, queue_type)
            if "consume" in sections:
                consume_rounds = 2 if args.quick else 3
                consume_rows, publish_rows = asyncio.run(
                    _run_consume(
                        count=count,
                        rounds=consume_rounds,
                        prefetches=[10, 100],
                        queue_type=queue_type,
                    )
                )
                _print_consume(consume_rows, publish_rows, count, consume_rounds, queue_type)
        if "external" in sections:
            external_rounds = 2 if args.quick else 3
            external_rows = asyncio.run(
                _run_external(count=count, rounds=external_rounds, prefetches=[10, 100])
            )
            _print_external(external_rows, count, external_rounds)
        if "recording" in sections:
            recording_rounds = 2 if args.quick else 6
            recording_rows = asyncio.run(_run_recording(count=count, rounds=recording_rounds))
            _print_recording(recording_rows, count, recording_rounds)
        if "outbox" in sections:
            outbox_rounds = 2 if args.quick else 3
            outbox_rows = asyncio.run(_run_outbox(count=count, rounds=outbox_rounds))
            print(f"\noutbox -> relay -> broker (confirms), {count} events, median of "
                  f"{outbox_rounds} rounds")  # fmt: skip
            for label, rate in outbox_rows:
                print(f"{label:>52} | {rate:>8,.0f} events/s")


def _print_consume(
    consume_rows: list[ConsumeRow],
    publish_rows: list[tuple[int, float, float, float]],
    count: int,
    rounds: int,
    queue_type: str,
) -> None:
    print(
        f"\nconsume + ack from a {queue_type} queue, {count} persistent messages per round, "
        f"median of {rounds} rounds (raw / ours batched / FastStream / FastStream + inbox / "
        "ours per-message, in turn; each clock from before the AMQP connection opens until "
        "the broker has the acks: connection closed, queue empty, nothing unacked; DB pool "
        "set-up in none)"
    )
    print(
        f"{'prefetch':>8} | {'raw aio-pika':>12} | {'svcinfra+inbox':>14} | ratio | "
        f"{'FastStream':>10} | ours/FS | {'FS+inbox':>8} | ours/FS+inbox | {'ours 1 tx/msg':>13}"
        f" | CPU us/msg raw / ours / FS / FS+inbox / ours 1 tx/msg"
    )
    print(f"{'-' * 8}-+-{'-' * 12}-+-{'-' * 14}-+-------+-{'-' * 10}-+---------+-{'-' * 8}"
          f"-+-{'-' * 13}-+-{'-' * 13}-+-{'-' * 52}")  # fmt: skip
    for prefetch, paths in consume_rows:
        (raw, raw_cpu), (ours, our_cpu), (fast, fast_cpu), (fsi, fsi_cpu), (one, one_cpu) = paths
        print(
            f"{prefetch:>8} | {raw:>12,.0f} | {ours:>14,.0f} | {ours / raw:5.2f} | "
            f"{fast:>10,.0f} | {ours / fast:7.2f} | {fsi:>8,.0f} | {ours / fsi:13.2f}"
            f" | {one:>13,.0f} | {raw_cpu:,.0f} / {our_cpu:,.0f} / {fast_cpu:,.0f}"
            f" / {fsi_cpu:,.0f} / {one_cpu:,.0f}"
        )
    print(f"\npublish with confirms to a {queue_type} queue vs FastStream (logger off, "
          f"confirms on), {count} messages")  # fmt: skip
    print(f"{'window':>8} | {'svcinfra msg/s':>14} | {'FastStream msg/s':>16} | ours/FastStream")
    for window, ours, fast, _ in publish_rows:
        print(f"{window:>8} | {ours:>14,.0f} | {fast:>16,.0f} | {ours / fast:15.2f}")


if __name__ == "__main__":
    main()
