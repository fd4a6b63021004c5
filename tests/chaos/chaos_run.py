"""The chaos run: N registrations through the reference stack while its servers and processes fail.

    .venv/bin/python tests/chaos/chaos_run.py -n 10000     # what `make chaos` does

Two replicas of the users API, of the users relay and of the notifications consumer run side by
side (as on Kubernetes). Clients register N users, retrying only on 503 and connection errors.
Meanwhile, on a schedule: RabbitMQ is restarted twice (`rabbitmqctl stop_app` / `start_app`), the
stack's broker connections are closed every few seconds, relays and consumers are SIGKILLed and
restarted, Redis is stopped for a while, PostgreSQL is restarted once, 200 ms are added
between the consumers and the broker for 10 s (a fault proxy in front of the consumers), the
broker raises a memory alarm (publishers blocked), fake-mail is slow, answers 5xx, answers 429
over a rate limit, and is restarted (losing its memory), and both users API replicas are rolled
over to new ones (the clients reach them through a round-robin balancer, as through a
Kubernetes Service). fake-mail rejects one address in `REJECT_EVERY`, whose registrations must
end in the DLQ with reason address_rejected.

The servers are the run's own (`chaos_servers.PrivateServers`: a PostgreSQL, a Redis and a
RabbitMQ node on free ports, removed at the end, also when the run is killed): the machine's
shared servers are never stopped, restarted or reconfigured, and the run checks that (their
start times before and after, and a connection to each held across the run).

When everything is quiet again, the run counts every effect from the source of truth (the
databases, fake-mail's record, queues bound on the exchanges, the DLQ), compares each with what
N registrations must produce, scans every process log for secrets, and fails on any difference.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import secrets
import signal
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import aio_pika
import asyncpg
import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for _path in (str(REPO / "tools"), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from chaos_servers import LatencyProxy, PrivateServers, ServerError, SharedWatch  # noqa: E402
from devstack import Ports, Stack  # noqa: E402

sys.path.insert(0, str(REPO / "tests" / "e2e"))
from rollout_kit import Balancer  # noqa: E402

from svcinfra.testing._reaper import Reaper  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

    from devstack import Process

REJECT_DOMAIN = "rejected.example.net"
REJECT_EVERY = 50  # one registration in 50 goes to an address fake-mail rejects
REPLICAS = {"users-api": 2, "users-relay": 2, "notifications-consumer": 2}
WORK_QUEUE = "notifications.user-registered"
RETRY_QUEUES = tuple(f"{WORK_QUEUE}.retry.{tier}" for tier in ("1s", "5s", "30s"))
DLQ = f"{WORK_QUEUE}.dlq"
SENT_PROBE = "chaos.notification-sent"  # the run's own queues, bound at the start
REGISTERED_PROBE = "chaos.user-registered"
AMQP_LATENCY = 0.2  # seconds the amqp-latency fault adds to every chunk consumers <-> broker
MAIL_LATENCY_MS = 2000  # the mail-slow fault: well under the mail client's 5 s read timeout
MAIL_ERROR = {"error_ratio": 0.5, "error_status": 500}  # the mail-5xx fault
MAIL_RATE_LIMIT = 1  # the mail-429 fault: POSTs per second (Resend's default is 2)
DRAIN_DELAY = 2.0  # users API: seconds it keeps serving after SIGTERM (HTTP_DRAIN_DELAY)
ENDPOINT_LAG = 1.0  # seconds from a replica's SIGTERM until the balancer stops routing to it
CLIENT_CONCURRENCY = 32
CLIENT_GIVE_UP = 300.0  # seconds one registration keeps retrying
WINDOW_GRACE = 2.0  # seconds after a server outage's recovery still inside its window
DSN_WITH_PASSWORD = re.compile(
    r"\b(?:postgres(?:ql)?|amqps?|rediss?)://[^\s:/@\"']+:(?P<password>[^\s@\"']+)@"
)
MASKED = re.compile(r"^(?:\*+|(?:%2A)+|<[a-z _-]*>|\[?redacted\]?|x+)$", re.IGNORECASE)
OUT_DIR = REPO / ".run" / "chaos"


@dataclass(frozen=True, slots=True)
class Fault:
    """One scheduled fault: when (seconds after the load starts), what, and for how long."""

    at: float
    # kill | redis-outage | rabbitmq-restart | postgres-restart | amqp-latency | memory-alarm
    # | mail-slow | mail-5xx | mail-429 | mail-restart | users-api-rollout
    kind: str
    hold: float = 0.0
    targets: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """A short description for the tables."""
        what = {
            "kill": "SIGKILL " + " + ".join(self.targets),
            "redis-outage": "Redis stopped (SIGTERM, no save; redis-server again)",
            "rabbitmq-restart": "RabbitMQ restarted (stop_app / start_app)",
            "postgres-restart": "PostgreSQL restarted (pg_ctl restart -m fast)",
            "amqp-latency": f"{AMQP_LATENCY * 1000:g} ms added between the consumers and RabbitMQ",
            "memory-alarm": "RabbitMQ memory alarm (watermark 1e-7, then 0.4)",
            "mail-slow": f"fake-mail slow ({MAIL_LATENCY_MS} ms per POST)",
            "mail-5xx": (
                f"fake-mail answers {MAIL_ERROR['error_status']} to"
                f" {MAIL_ERROR['error_ratio']:.0%} of POSTs"
            ),
            "mail-429": f"fake-mail rate limit {MAIL_RATE_LIMIT}/s (429 + Retry-After)",
            "mail-restart": "fake-mail restarted (record and keys lost)",
            "users-api-rollout": "rolling restart of both users API replicas",
        }[self.kind]
        if not self.hold:
            return what
        down = self.kind in {"kill", "redis-outage", "rabbitmq-restart"}
        return what + (f", down {self.hold:g} s" if down else f" for {self.hold:g} s")


# The full schedule: the load is spread over DURATION seconds, a fault every 6-18 s, one at a time,
# and the stack's broker connections are closed every CONNECTION_KILL_EVERY seconds throughout.
DURATION = 180.0
CONNECTION_KILL_EVERY = 4.0
SCHEDULE = (
    Fault(6, "kill", 2, ("users-relay",)),
    Fault(14, "redis-outage", 10),
    # The faults that need the load flowing come early: the schedule drifts later under load.
    Fault(28, "users-api-rollout"),
    Fault(44, "mail-slow", 6),
    Fault(52, "mail-429", 6),  # before the 5xx: an open breaker would keep the calls away
    Fault(60, "mail-5xx", 6),
    Fault(70, "memory-alarm", 8),
    Fault(82, "rabbitmq-restart", 8),
    Fault(98, "kill", 2, ("notifications-consumer",)),
    Fault(108, "postgres-restart"),
    Fault(120, "kill", 2, ("users-relay-2", "notifications-consumer-2")),
    Fault(134, "rabbitmq-restart", 8),
    # Far from the 5xx (> 45 s even at CI size): each can open the mail client's breaker for
    # 30 s (the calls it refuses are deferred, not counted as attempts: docs/reliability.md).
    Fault(150, "mail-restart"),
    Fault(158, "kill", 2, ("notifications-relay",)),
    Fault(166, "amqp-latency", 10),
)
# Faults that touch nothing the users API depends on: a 503 or a connection error in them fails.
NOT_AN_OUTAGE = frozenset(
    {
        "kill",
        "amqp-latency",
        "users-api-rollout",
        "memory-alarm",
        "mail-slow",
        "mail-5xx",
        "mail-429",
        "mail-restart",
    }
)


@dataclass(frozen=True, slots=True)
class Config:
    """What to run: N registrations over the schedule scaled by `scale` (0.5: twice as fast)."""

    n: int = 10_000
    scale: float = 1.0
    out_dir: Path = OUT_DIR
    quiesce_timeout: float = 240.0

    @property
    def duration(self) -> float:
        """Seconds the registrations are spread over."""
        return DURATION * self.scale

    @property
    def schedule(self) -> tuple[Fault, ...]:
        """The faults, at scaled times and holds."""
        return tuple(
            Fault(f.at * self.scale, f.kind, f.hold * self.scale, f.targets) for f in SCHEDULE
        )


@dataclass
class ClientStats:
    """What the clients saw (their view only: the final counts decide)."""

    requests: int = 0
    created: int = 0
    retries: int = 0
    conflict_after_retry: int = 0
    connection_errors: int = 0
    connection_error_times: list[float] = field(default_factory=list)
    connection_error_kinds: Counter[str] = field(default_factory=Counter)  # ConnectError, ...
    gave_up: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    unexpected: Counter[str] = field(default_factory=Counter)
    server_errors: list[tuple[float, int]] = field(default_factory=list)  # (t, status)
    successes: list[float] = field(default_factory=list)


@dataclass
class FaultRecord:
    """A fault as it happened: times in seconds after the load started."""

    label: str
    kind: str
    started: float
    ended: float = 0.0
    recovery_s: float | None = None  # from the end to readyz 200 on every process
    first_success_s: float | None = None  # from the end to the next 201
    unavailable: int = 0  # 503 answers from its start to its recovery (plus a grace period)
    connection_errors: int = 0  # client connection errors in the same window
    error: str | None = None
    not_ready: list[str] = field(default_factory=list)  # without recovery: who, and why
    observed: dict[str, Any] = field(default_factory=dict)  # what shows the fault bit


@dataclass
class Run:
    """The state of one run, shared by the load, the faults and the broker connection killer."""

    stack: Stack
    servers: PrivateServers
    latency: LatencyProxy
    config: Config
    emails: list[str]
    rejected: set[str]
    t0: float = 0.0
    stats: ClientStats = field(default_factory=ClientStats)
    faults: list[FaultRecord] = field(default_factory=list)
    connections_closed: int = 0
    broker_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    guard: Reaper | None = None  # SIGKILLs the stack's processes if the run dies first
    balancer: Balancer | None = None  # the clients' way to the users API replicas
    journal: Path | None = None  # fake-mail's journal: every email it sent, across restarts

    def guard_processes(self) -> None:
        """Tell the guard the stack's processes as they are now (after a start or restart)."""
        if self.guard is not None:
            groups = [p.pid for p in self.stack.processes.values() if p.pid is not None]
            self.guard.watch(process_groups=groups)  # each one leads a session of its own

    def now(self) -> float:
        """Seconds since the load started."""
        return time.monotonic() - self.t0


def registrations(run_id: str, n: int) -> tuple[list[dict[str, str]], set[str]]:
    """N registrations unique to the run; one in REJECT_EVERY to a rejected address."""
    bodies, rejected = [], set()
    for i in range(n):
        domain = REJECT_DOMAIN if i % REJECT_EVERY == REJECT_EVERY - 1 else "example.com"
        email = f"{run_id}.{i}@{domain}"
        if domain == REJECT_DOMAIN:
            rejected.add(email)
        bodies.append({"email": email, "username": f"{run_id}_{i}", "display_name": f"Chaos {i}"})
    return bodies, rejected


async def register(run: Run, http: httpx.AsyncClient, index: int, body: dict[str, str]) -> None:
    """POST one registration, retrying on 503 and connection errors only, with backoff.

    A retry answered 409 (the same username or email exists) means an earlier attempt went
    through: success after retry. The final counts, not this view, decide the outcome.
    """
    assert run.balancer is not None
    url = f"http://127.0.0.1:{run.balancer.port}"  # round robin over the replicas
    stats, deadline = run.stats, time.monotonic() + CLIENT_GIVE_UP
    attempt = 0
    del index
    while True:
        stats.requests += 1
        try:
            response = await http.post(f"{url}/api/v1/users", json=body)
        except httpx.TransportError as exc:
            stats.connection_errors += 1
            stats.connection_error_times.append(run.now())
            stats.connection_error_kinds[type(exc).__name__] += 1
            status = None
        else:
            status = response.status_code
            stats.statuses[str(status)] += 1
            if status >= 500:
                stats.server_errors.append((run.now(), status))
        if status == 201:
            stats.created += 1
            stats.successes.append(run.now())
            return
        if status == 409 and attempt > 0:
            stats.conflict_after_retry += 1
            stats.successes.append(run.now())
            return
        if status not in {None, 503} or time.monotonic() > deadline:
            if status in {None, 503}:
                stats.gave_up += 1
            else:
                stats.unexpected[f"{status} on attempt {attempt + 1}"] += 1
            return
        attempt += 1
        stats.retries += 1
        await asyncio.sleep(min(0.1 * 2**attempt, 3.0) * random.uniform(0.5, 1.0))  # noqa: S311


async def load(run: Run, bodies: list[dict[str, str]]) -> None:
    """Send the registrations at an even rate over the run's duration."""
    rate = len(bodies) / run.config.duration
    gate = asyncio.Semaphore(CLIENT_CONCURRENCY)
    # httpx's default keep-alive expiry (5 s), as a client of the services would have it: the
    # services keep idle connections 75 s (svcinfra.app.AsgiServer's KEEP_ALIVE), so reusing one
    # never meets the server's close. With uvicorn's 5 s default it did: RemoteProtocolError
    # outside every fault (run chaosc61ae4648: 2 such).
    limits = httpx.Limits(max_connections=CLIENT_CONCURRENCY * 2)
    async with httpx.AsyncClient(timeout=10, limits=limits) as http, asyncio.TaskGroup() as tasks:
        for index, body in enumerate(bodies):
            await asyncio.sleep(max(0.0, index / rate - run.now()))
            await gate.acquire()

            async def one(index: int = index, body: dict[str, str] = body) -> None:
                try:
                    await register(run, http, index, body)
                finally:
                    gate.release()

            tasks.create_task(one())


async def all_ready(run: Run, http: httpx.AsyncClient, *, timeout: float = 180.0) -> float | None:
    """Wait until every process answers readyz 200; return the seconds it took (None: never)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        statuses = []
        for process in list(run.stack.processes.values()):
            try:
                statuses.append((await http.get(f"{process.tech_url}/health/readyz")).status_code)
            except httpx.TransportError:
                statuses.append(None)
        if all(s == 200 for s in statuses):
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    return None


async def not_ready_now(run: Run, http: httpx.AsyncClient) -> list[str]:
    """Every process whose readyz is not 200 now, with its answer (the failing checks)."""
    found = []
    for process in list(run.stack.processes.values()):
        try:
            response = await http.get(f"{process.tech_url}/health/readyz")
        except httpx.TransportError as exc:
            found.append(f"{process.name}: {type(exc).__name__}")
            continue
        if response.status_code != 200:
            found.append(f"{process.name}: {response.status_code} {response.text[:300]}")
    return found


async def inflict(run: Run, fault: Fault, record: FaultRecord) -> None:
    """Cause `fault` and undo it (server back, processes restarted).

    The fault ends (`record.ended`) when the server is up again or the processes start again.
    """
    stack, hold = run.stack, fault.hold
    if fault.kind == "kill":
        for name in fault.targets:
            await asyncio.to_thread(stack.kill, name)
        await asyncio.sleep(hold)
        record.ended = run.now()
        for name in fault.targets:
            await asyncio.to_thread(stack.restart, name, timeout=120)
    elif fault.kind == "redis-outage":
        await asyncio.to_thread(run.servers.redis_stop)
        await asyncio.sleep(hold)
        await asyncio.to_thread(run.servers.redis_start)
    elif fault.kind == "rabbitmq-restart":
        async with run.broker_lock:
            await asyncio.to_thread(run.servers.rabbit_stop_app)
            await asyncio.sleep(hold)
            await asyncio.to_thread(run.servers.rabbit_start_app)
    elif fault.kind == "postgres-restart":
        await asyncio.to_thread(run.servers.pg_restart)
    elif fault.kind == "amqp-latency":
        run.latency.set_latency(AMQP_LATENCY)
        try:
            await asyncio.sleep(hold)
        finally:
            run.latency.set_latency(0.0)
    elif fault.kind in MAIL_FAULTS:
        await mail_fault(run, fault, record)
    elif fault.kind in APP_FAULTS:
        await APP_FAULTS[fault.kind](run, fault, record)
    else:
        raise ValueError(f"unknown fault {fault.kind}")


async def memory_alarm(run: Run, fault: Fault, record: FaultRecord) -> None:
    """Raise the private node's memory alarm for `hold` seconds; watch readiness meanwhile.

    The broker blocks every connection that publishes (`connection.blocked`): the relays'
    publishers wait for `connection.unblocked` and their readiness says blocked. Nothing may be
    lost, and publishing must resume by itself once the alarm is lifted.
    """
    blocked: set[str] = set()
    async with run.broker_lock, httpx.AsyncClient(timeout=2) as http:
        await asyncio.to_thread(_control_alarm, run, raised=True)
        try:
            deadline = time.monotonic() + fault.hold
            while time.monotonic() < deadline:
                for process in list(run.stack.processes.values()):
                    with contextlib.suppress(httpx.TransportError):
                        answer = await http.get(f"{process.tech_url}/health/readyz")
                        if answer.status_code == 503 and "BrokerBlockedError" in answer.text:
                            blocked.add(process.name)
                await asyncio.sleep(0.25)
        finally:
            await asyncio.to_thread(_control_alarm, run, raised=False)
    record.observed["readiness said blocked"] = sorted(blocked)


def _control_alarm(run: Run, *, raised: bool) -> None:
    try:
        run.servers.rabbit.set_memory_alarm(raised=raised)
    except RuntimeError as exc:  # RabbitNodeError
        raise ServerError(str(exc)) from exc


MAIL_FAULTS = {
    "mail-slow": ({"latency_ms": MAIL_LATENCY_MS}, "latency"),
    "mail-5xx": (MAIL_ERROR, "error"),
    "mail-429": ({"rate_limit_per_second": MAIL_RATE_LIMIT}, "rate_limit"),
}


async def mail_fault(run: Run, fault: Fault, record: FaultRecord) -> None:
    """Set fake-mail's fault for `fault.hold` seconds (PUT /v1/faults), then its settings back."""
    changes, metric = MAIL_FAULTS[fault.kind]
    url, headers = f"{run.stack.fake_mail_url}/v1/faults", run.stack.fake_mail_headers
    async with httpx.AsyncClient(timeout=10, headers=headers) as http:
        before = await fake_mail_counter(run, http, "fake_mail_faults_injected_total", metric)
        settings = (await http.get(url)).raise_for_status().json()
        (await http.put(url, json=settings | changes)).raise_for_status()
        try:
            await asyncio.sleep(fault.hold)
        finally:
            (await http.put(url, json=settings)).raise_for_status()
        after = await fake_mail_counter(run, http, "fake_mail_faults_injected_total", metric)
    record.observed[f"injected ({metric})"] = int(after - before)


async def fake_mail_counter(
    run: Run, http: httpx.AsyncClient, name: str, kind: str | None = None
) -> float:
    """One counter of fake-mail's /metrics (with `kind="..."` when given); 0 when absent."""
    text = (await http.get(f"{run.stack.process('fake-mail').tech_url}/metrics")).text
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or (kind is not None and f'kind="{kind}"' not in line):
            continue
        total += float(line.split()[-1])
    return total


async def mail_restart(run: Run, fault: Fault, record: FaultRecord) -> None:
    """Restart fake-mail (SIGTERM: in-flight requests finish; then a new process, empty).

    Its record and idempotency keys are gone; its journal (the recipients' inboxes) is not.
    """
    del fault
    headers = run.stack.fake_mail_headers
    async with httpx.AsyncClient(timeout=30, headers=headers) as http:
        before = len(await fake_mail_record(run.stack))
        replays = await fake_mail_counter(run, http, "fake_mail_messages_replayed_total")
        await asyncio.to_thread(run.stack.restart, "fake-mail", timeout=120)
        record.ended = run.now()
        after = len(await fake_mail_record(run.stack))
    record.observed |= {"record before": before, "record after": after, "replays": int(replays)}


async def rollout(run: Run, fault: Fault, record: FaultRecord) -> None:
    """Roll both users API replicas over to new ones under the load, as Kubernetes does.

    `maxSurge: 1, maxUnavailable: 0`: for each old replica a new one starts and, once ready,
    joins the balancer; the old one gets SIGTERM (readiness 503 at once, serving for
    `DRAIN_DELAY` s) and leaves the balancer `ENDPOINT_LAG` s later; it must exit 0.
    """
    del fault
    balancer = run.balancer
    assert balancer is not None
    old = run.stack.replicas_of("users-api")
    statuses: list[int | None] = []
    for replica in old:
        name = f"users-api-r{len(run.faults)}-{replica.name}"
        new: Process = await asyncio.to_thread(run.stack.spawn, "users-api", name, timeout=120)
        assert new.api_port is not None
        assert replica.api_port is not None
        balancer.add(new.api_port)
        run.guard_processes()
        replica.send_signal(signal.SIGTERM)
        await asyncio.sleep(ENDPOINT_LAG)
        balancer.remove(replica.api_port)
        statuses.append(await asyncio.to_thread(replica.wait))
        await asyncio.to_thread(run.stack.discard, replica.name)
    record.ended = run.now()
    record.observed |= {
        "old replicas' exit statuses": statuses,
        "connections per backend": dict(balancer.connections),
        "refused": sum(balancer.refused.values()),
    }


APP_FAULTS: dict[str, Callable[[Run, Fault, FaultRecord], Awaitable[None]]] = {
    "memory-alarm": memory_alarm,
    "mail-restart": mail_restart,
    "users-api-rollout": rollout,
}


async def faults(run: Run) -> None:
    """Cause the scheduled faults one after the other, measuring each one's recovery."""
    async with httpx.AsyncClient(timeout=2) as http:
        for fault in run.config.schedule:
            await asyncio.sleep(max(0.0, fault.at - run.now()))
            record = FaultRecord(fault.label, fault.kind, run.now())
            run.faults.append(record)
            try:
                await inflict(run, fault, record)
            except Exception as exc:  # noqa: BLE001  (recorded: the run fails on it)
                record.error = f"{type(exc).__name__}: {exc}"
            record.ended = record.ended or run.now()
            run.guard_processes()
            recovery = await all_ready(run, http)
            if recovery is not None:
                record.recovery_s = round(run.now() - record.ended, 2)
            else:
                record.not_ready = await not_ready_now(run, http)


async def connection_killer(run: Run, stop: asyncio.Event) -> None:
    """Close one of the stack's broker connections every few seconds (never someone else's)."""
    names = run.stack.names
    users = {names.users_amqp_user, names.notifications_amqp_user}
    every = CONNECTION_KILL_EVERY * max(run.config.scale, 0.5)
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
        if stop.is_set():
            return
        async with run.broker_lock:
            with contextlib.suppress(ServerError):
                run.connections_closed += await asyncio.to_thread(
                    run.servers.close_connections, names.vhost, users, limit=1
                )


async def declare_probes(stack: Stack) -> None:
    """The run's own durable queues on both event exchanges (they survive broker restarts)."""
    connection = await aio_pika.connect(stack.amqp_admin_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        for queue_name, exchange, key in (
            (SENT_PROBE, "notifications.events", "notification.sent.v1"),
            (REGISTERED_PROBE, "users.events", "user.registered.v1"),
        ):
            queue = await channel.declare_queue(queue_name, durable=True)
            await queue.bind(exchange, routing_key=key)


async def _fetch(run: Run, db: str, query: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(run.servers.pg_admin(db), timeout=10)
    try:
        return list(await connection.fetch(query))
    finally:
        await connection.close()


async def queue_depths(stack: Stack) -> dict[str, int]:
    """Messages ready in the work, retry and dead-letter queues."""
    connection = await aio_pika.connect(stack.amqp_admin_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        depths = {}
        for name in (WORK_QUEUE, *RETRY_QUEUES, DLQ):
            queue = await channel.declare_queue(name, passive=True)
            depths[name] = int(queue.declaration_result.message_count or 0)
        return depths


async def quiesce(run: Run) -> tuple[float | None, dict[str, Any]]:
    """Wait until the outboxes are empty and every registration has an ending (bounded).

    An ending is a delivery or a dead letter, and every non-rejected address needs a delivery
    (a dead letter may have a copy); the queues must be empty too. A lost effect keeps the run
    waiting until the timeout, then the counts show it.

    Returns:
        The seconds it took (None: not within the timeout) and the last observation.
    """
    names, started = run.stack.names, time.monotonic()
    last: dict[str, Any] = {}
    while time.monotonic() - started < run.config.quiesce_timeout:
        with contextlib.suppress(OSError, asyncpg.PostgresError, aio_pika.exceptions.AMQPError):
            users = await _fetch(
                run,
                names.users_db,
                "SELECT (SELECT count(*) FROM users) AS users,"
                " (SELECT count(*) FROM svcinfra_outbox WHERE sent_at IS NULL) AS unsent",
            )
            notes = await _fetch(
                run,
                names.notifications_db,
                "SELECT (SELECT count(*) FROM deliveries) AS deliveries,"
                " (SELECT count(*) FROM svcinfra_outbox WHERE sent_at IS NULL) AS unsent",
            )
            depths = await queue_depths(run.stack)
            last = {
                "users": users[0]["users"],
                "users_outbox_unsent": users[0]["unsent"],
                "deliveries": notes[0]["deliveries"],
                "notifications_outbox_unsent": notes[0]["unsent"],
                **depths,
            }
            busy = sum(depths[q] for q in (WORK_QUEUE, *RETRY_QUEUES))
            if (
                not last["users_outbox_unsent"]
                and not last["notifications_outbox_unsent"]
                and not busy
                and last["deliveries"] >= len(run.emails) - len(run.rejected)
                and last["deliveries"] + depths[DLQ] >= last["users"]
            ):
                return time.monotonic() - started, last
        await asyncio.sleep(1.0)
    return None, last


async def drain(stack: Stack, queue_name: str) -> list[aio_pika.abc.AbstractIncomingMessage]:
    """Take every message of `queue_name` (basic.get until empty)."""
    connection = await aio_pika.connect(stack.amqp_admin_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        taken = []
        while (message := await queue.get(fail=False, no_ack=True)) is not None:
            taken.append(message)
        return taken


def journal_entries(path: Path | None) -> list[dict[str, Any]]:
    """Every email fake-mail sent, across its restarts (its journal, one JSON line each)."""
    if path is None or not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


async def fake_mail_record(stack: Stack) -> list[dict[str, Any]]:
    """Every message fake-mail recorded."""
    async with httpx.AsyncClient(timeout=30) as http:
        response = await http.get(
            f"{stack.fake_mail_url}/v1/messages", headers=stack.fake_mail_headers
        )
        response.raise_for_status()
        return list(response.json()["messages"])


def _duplicates(values: Iterable[object]) -> int:
    return sum(count - 1 for count in Counter(values).values() if count > 1)


async def count(run: Run) -> dict[str, Any]:
    """Count every effect from its source of truth."""
    names = run.stack.names
    expected = set(run.emails)
    delivered_expected = expected - run.rejected
    users = [r["email"] for r in await _fetch(run, names.users_db, "SELECT email FROM users")]
    events = await _fetch(
        run,
        names.users_db,
        "SELECT id, payload->>'email' AS email, sent_at IS NOT NULL AS sent FROM svcinfra_outbox"
        " WHERE message_name = 'user.registered.v1'",
    )
    deliveries = await _fetch(
        run,
        names.notifications_db,
        "SELECT notification_id, email, source_message_id FROM deliveries",
    )
    sent_rows = await _fetch(
        run,
        names.notifications_db,
        "SELECT id FROM svcinfra_outbox"
        " WHERE message_name = 'notification.sent.v1' AND sent_at IS NOT NULL",
    )
    # fake-mail's record is in memory (a restart empties it); its journal is every email sent.
    journal = journal_entries(run.journal)
    mails = [m["to"] for m in journal]
    record = await fake_mail_record(run.stack)
    journal_ids = {m["id"] for m in journal}
    sent_wire = [json.loads(m.body)["notification_id"] for m in await drain(run.stack, SENT_PROBE)]
    registered_wire = [m.message_id for m in await drain(run.stack, REGISTERED_PROBE)]
    dead = await drain(run.stack, DLQ)
    # (message id, email, whether the reason is address_rejected) of every dead letter
    dlq = [
        (
            m.message_id,
            json.loads(m.body).get("email"),
            "address_rejected" in str(m.headers.get("error-message", "")).lower(),
        )
        for m in dead
    ]
    # Dead-lettering is at-least-once too: a crash or a lost connection between the DLQ publish
    # and the ack of the original puts a second copy of the same message (same id) there.
    dlq_messages = {(mid, email) for mid, email, reason in dlq if reason}
    dlq_rejected = [email for _, email in dlq_messages if email in run.rejected]
    sent_events = {str(e["email"]) for e in events if e["sent"]}
    delivered = {str(d["email"]) for d in deliveries}
    notification_ids = {str(d["notification_id"]) for d in deliveries}
    lost = {
        "users": len(expected - set(users)),
        "user.registered.v1 sent": len(expected - sent_events),
        "deliveries": len(delivered_expected - delivered),
        "emails": len(delivered_expected - set(mails)),
        "notification.sent.v1": len(notification_ids - set(sent_wire)),
        "dlq": len(run.rejected - set(dlq_rejected)),
    }
    duplicated = {
        "users": _duplicates(users),
        "user.registered.v1 rows": _duplicates(e["email"] for e in events),
        "deliveries": _duplicates(d["email"] for d in deliveries),
        "emails": _duplicates(mails),
        "notification.sent.v1 ids": len(set(sent_wire) - notification_ids),
        "dlq": _duplicates(dlq_rejected),
    }
    return {
        "users": len(users),
        "unexpected_users": len(set(users) - expected),
        "events_rows": len(events),
        "events_sent": sum(1 for e in events if e["sent"]),
        "events_on_wire_distinct": len(set(registered_wire)),
        "events_wire_duplicates": _duplicates(registered_wire),
        "deliveries": len(deliveries),
        "deliveries_distinct_events": len({d["source_message_id"] for d in deliveries}),
        "emails": len(mails),
        "emails_distinct": len(set(mails)),
        "emails_twice": _duplicates(mails),
        "emails_to_rejected": sum(1 for m in mails if m in run.rejected),
        "emails_unexpected": len(set(mails) - delivered_expected),
        "emails_in_record": len(record),  # since fake-mail's last start
        "record_not_in_journal": sum(1 for m in record if m["id"] not in journal_ids),
        "sent_outbox_rows_sent": len(sent_rows),
        "sent_on_wire_distinct": len(set(sent_wire)),
        "sent_wire_duplicates": _duplicates(sent_wire),
        "dlq_total": len(dlq),
        "dlq_distinct": len({mid for mid, _, _ in dlq}),
        "dlq_copies": len(dlq) - len({mid for mid, _, _ in dlq}),
        "dlq_address_rejected": len(set(dlq_rejected)),
        "dlq_other_count": sum(1 for _, e, reason in dlq if e not in run.rejected or not reason),
        "lost": lost,
        "duplicated": duplicated,
    }


def log_figures(log_dir: Path) -> dict[str, int]:
    """Redelivery figures read from the process logs (all runs of every process)."""
    figures = Counter[str]()
    for path in log_dir.glob("*.log"):
        for line in path.read_text(errors="replace").splitlines():
            if "amqp duplicate acked without effect" in line:
                figures["duplicates_acked_without_effect"] += 1
            elif "amqp message retried" in line:
                figures["retried_through_tiers"] += 1
            elif "amqp message dead-lettered" in line:
                figures["dead_lettered"] += 1
    return dict(figures)


def secret_hits(log_dir: Path, values: Iterable[str]) -> list[str]:
    """Where a secret value (plain or URL-encoded) or a DSN with a password appears in the logs.

    Returns:
        `file:line: what` for every hit (never the secret itself).
    """
    forms = {f for v in values for f in (v, quote(v, safe=""), quote_plus(v)) if v}
    hits = []
    for path in sorted(log_dir.glob("*.log")):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if any(form in line for form in forms):
                hits.append(f"{path.name}:{number}: a generated secret value")
            hits.extend(
                f"{path.name}:{number}: a URL with an unmasked password"
                for match in DSN_WITH_PASSWORD.finditer(line)
                if not MASKED.match(match["password"])
            )
    return hits


async def drive(run: Run, bodies: list[dict[str, str]]) -> None:
    """Run the load, the scheduled faults and the broker connection killer side by side."""
    await declare_probes(run.stack)
    ports = [p.api_port for p in run.stack.replicas_of("users-api") if p.api_port is not None]
    async with Balancer(ports) as balancer:
        run.balancer = balancer
        run.t0 = time.monotonic()
        stop = asyncio.Event()
        killer = asyncio.create_task(connection_killer(run, stop))
        try:
            await asyncio.gather(load(run, bodies), faults(run))
        finally:
            stop.set()
            await killer


def first_success_after(successes: list[float], moment: float) -> float | None:
    """Seconds from `moment` to the first successful registration after it."""
    later = [t for t in successes if t >= moment]
    return round(min(later) - moment, 2) if later else None


def outage_windows(run: Run) -> list[tuple[float, float]]:
    """When a 503 is allowed: a server outage, until its recovery plus a grace period."""
    return [
        (f.started, f.ended + (f.recovery_s or 0.0) + WINDOW_GRACE)
        for f in run.faults
        if f.kind not in NOT_AN_OUTAGE
    ]


def _observed(seen: dict[str, Any]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in seen.items())


@dataclass
class Report:
    """Everything the run measured, and what failed."""

    run_id: str
    n: int
    rejected: int
    scale: float
    load_seconds: float
    quiesce_seconds: float | None
    counts: dict[str, Any]
    clients: dict[str, Any]
    faults: list[dict[str, Any]]
    connections_closed: int
    redeliveries: dict[str, int]
    fake_mail_replays: int
    not_ready_at_end: list[str]
    server_errors_not_503: int
    unavailable_outside_windows: int
    secret_hits: list[str]
    servers_restored: list[str]
    shared_servers: dict[str, Any] = field(default_factory=dict)
    private_servers: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def table(self) -> str:
        """The summary: every compared figure, the run's figures, the faults."""
        c, n, r = self.counts, self.n, self.rejected
        rows = [
            ("users in the users database", n, c.get("users")),
            ("user.registered.v1 outbox rows sent", n, c.get("events_sent")),
            ("user.registered.v1 seen on the wire (distinct)", n, c.get("events_on_wire_distinct")),
            ("deliveries recorded by notifications", n - r, c.get("deliveries")),
            ("emails at fake-mail (distinct addresses)", n - r, c.get("emails_distinct")),
            ("emails sent twice", 0, c.get("emails_twice")),
            ("emails to rejected addresses", 0, c.get("emails_to_rejected")),
            ("notification.sent.v1 outbox rows sent", n - r, c.get("sent_outbox_rows_sent")),
            ("notification.sent.v1 seen (distinct ids)", n - r, c.get("sent_on_wire_distinct")),
            ("DLQ: distinct messages", r, c.get("dlq_distinct")),
            ("DLQ: address_rejected (the injected ones)", r, c.get("dlq_address_rejected")),
            ("DLQ: anything else", 0, c.get("dlq_other_count")),
            ("lost (all layers)", 0, sum(c.get("lost", {}).values())),
            ("duplicated effects (all layers)", 0, sum(c.get("duplicated", {}).values())),
            ("processes not ready at the end", 0, len(self.not_ready_at_end)),
            ("5xx other than 503", 0, self.server_errors_not_503),
            ("503 outside the outage windows", 0, self.unavailable_outside_windows),
            ("registrations the clients gave up", 0, self.clients.get("gave_up")),
            ("unexpected client answers", 0, sum(self.clients.get("unexpected", {}).values())),
            ("client connection errors", 0, self.clients.get("connection_errors")),
            ("fake-mail record entries not in its journal", 0, c.get("record_not_in_journal")),
            (
                "faults without their evidence",
                0,
                sum(1 for f in self.faults if did_not_bite(f)),
            ),
            ("secret hits in the logs", 0, len(self.secret_hits)),
            (
                "shared servers stopped, restarted, disconnected",
                0,
                len(self.shared_servers.get("problems", [])),
            ),
        ]
        lines = [
            (
                f"chaos run {self.run_id}: N={n} ({r} to rejected addresses),"
                f" schedule x{self.scale:g}, 2 replicas of users-api, users-relay,"
                " notifications-consumer"
            ),
            "",
            f"| {'figure':<48} | {'expected':>8} | {'actual':>8} | ok |",
            f"|{'-' * 50}|{'-' * 10}|{'-' * 10}|----|",
        ]
        for name, want, got in rows:
            mark = "ok" if want == got else "XX"
            lines.append(f"| {name:<48} | {want:>8} | {got!s:>8} | {mark} |")
        cl = self.clients
        figures = [
            ("load duration (s)", f"{self.load_seconds:.1f}"),
            ("quiescence after the load (s)", f"{self.quiesce_seconds or 0:.1f}"),
            ("HTTP requests", cl.get("requests")),
            ("client retries", cl.get("retries")),
            ("  of which 503 answers", cl.get("statuses", {}).get("503", 0)),
            ("  of which connection errors", cl.get("connection_errors")),
            ("409 after a retry (earlier attempt had succeeded)", cl.get("conflict_after_retry")),
            ("broker connections closed", self.connections_closed),
            ("user.registered.v1 duplicates on the wire", c.get("events_wire_duplicates")),
            ("notification.sent.v1 duplicates on the wire", c.get("sent_wire_duplicates")),
            (
                "redeliveries acked without effect (inbox)",
                self.redeliveries.get("duplicates_acked_without_effect", 0),
            ),
            ("retries through the retry tiers", self.redeliveries.get("retried_through_tiers", 0)),
            ("fake-mail idempotent replays", self.fake_mail_replays),
            ("emails in fake-mail's record (since its restart)", c.get("emails_in_record")),
            ("DLQ messages (copies included)", c.get("dlq_total")),
            ("DLQ copies of a message already dead-lettered", c.get("dlq_copies")),
        ]
        lines += ["", f"| {'figure':<52} | {'value':>8} |", f"|{'-' * 54}|{'-' * 10}|"]
        lines += [f"| {name:<52} | {value!s:>8} |" for name, value in figures]
        lines += [
            "",
            (
                f"| {'t (s)':>6} | {'fault':<66} | {'ready after (s)':>15}"
                f" | {'first 201 (s)':>13} | {'503s':>5} | {'conn. errors':>12} | observed |"
            ),
            f"|{'-' * 8}|{'-' * 68}|{'-' * 17}|{'-' * 15}|{'-' * 7}|{'-' * 14}|----------|",
        ]
        lines += [
            f"| {f['started']:>6.1f} | {f['label']:<66} | {f['recovery_s']!s:>15} |"
            f" {f['first_success_s']!s:>13} | {f['unavailable']:>5} |"
            f" {f.get('connection_errors', 0):>12} | {_observed(f.get('observed', {}))} |"
            for f in self.faults
        ]
        shared = self.shared_servers
        if shared:
            lines += ["", "the machine's shared servers (the run uses private ones):", ""]
            lines += [
                (
                    f"| {'server':<10} | {'started (before the run)':<48}"
                    f" | {'started (after)':<48} | held connection |"
                ),
                f"|{'-' * 12}|{'-' * 50}|{'-' * 50}|-----------------|",
            ]
            lines += [
                f"| {name:<10} | {shared['before'].get(name)!s:<48} |"
                f" {shared['after'].get(name)!s:<48} | {shared['held'].get(name)!s:<15} |"
                for name in ("postgresql", "redis", "rabbitmq")
            ]
        lines.append("")
        lines.append("result: " + ("PASS" if not self.failures else "FAIL"))
        lines += [f"  - {failure}" for failure in self.failures]
        return "\n".join(lines)


def did_not_bite(fault: dict[str, Any]) -> list[str]:
    """Why a fault's own evidence shows it did not happen as scheduled (empty: it did)."""
    kind, seen = fault["kind"], fault.get("observed", {})
    why: list[str] = []
    if fault.get("error"):
        return why  # reported as such
    if kind == "memory-alarm" and not seen.get("readiness said blocked"):
        why.append("no process's readiness said the broker blocks publishing")
    if kind in MAIL_FAULTS and not seen.get(f"injected ({MAIL_FAULTS[kind][1]})"):
        why.append(f"fake-mail injected no {MAIL_FAULTS[kind][1]} fault")
    if kind == "mail-restart":
        before, after = seen.get("record before", 0), seen.get("record after", -1)
        if not 0 <= after < before:
            why.append(f"fake-mail's record was not lost: {seen}")
    if kind == "users-api-rollout":
        statuses = seen.get("old replicas' exit statuses", [])
        if len(statuses) != REPLICAS["users-api"] or any(statuses):
            why.append(f"the old replicas did not exit 0: {statuses}")
        if seen.get("refused"):
            why.append(f"the balancer found {seen['refused']} connection(s) refused")
    return why


def judge(report: Report) -> list[str]:
    """Every difference between what N registrations must produce and what was counted."""
    c, n, r = report.counts, report.n, report.rejected
    failures = []
    expect = {
        "users": n,
        "unexpected_users": 0,
        "events_rows": n,
        "events_sent": n,
        "events_on_wire_distinct": n,
        "deliveries": n - r,
        "deliveries_distinct_events": n - r,
        "emails": n - r,
        "emails_distinct": n - r,
        "emails_twice": 0,
        "emails_to_rejected": 0,
        "emails_unexpected": 0,
        "sent_outbox_rows_sent": n - r,
        "sent_on_wire_distinct": n - r,
        "dlq_distinct": r,
        "dlq_address_rejected": r,
        "dlq_other_count": 0,
    }
    failures += [
        f"{k}: expected {v}, counted {c.get(k)}" for k, v in expect.items() if c.get(k) != v
    ]
    failures += [f"lost {k}: {v}" for k, v in c.get("lost", {}).items() if v]
    failures += [f"duplicated {k}: {v}" for k, v in c.get("duplicated", {}).items() if v]
    if report.quiesce_seconds is None:
        failures.append("the stack did not become quiet (outboxes and queues empty) in time")
    if report.not_ready_at_end:
        failures.append(f"not ready at the end: {report.not_ready_at_end}")
    if report.server_errors_not_503:
        failures.append(f"{report.server_errors_not_503} 5xx answers other than 503")
    if report.unavailable_outside_windows:
        failures.append(f"{report.unavailable_outside_windows} 503 outside the outage windows")
    if report.clients.get("gave_up"):
        failures.append(f"clients gave up on {report.clients['gave_up']} registrations")
    if report.clients.get("unexpected"):
        failures.append(f"unexpected client answers: {report.clients['unexpected']}")
    failures += [f"fault {f['label']}: {f['error']}" for f in report.faults if f["error"]]
    failures += [
        f"no recovery after {f['label']} (not ready: {f.get('not_ready')})"
        for f in report.faults
        if f["recovery_s"] is None
    ]
    if report.clients.get("connection_errors"):
        failures.append(
            f"{report.clients['connection_errors']} client connection errors (the balancer and"
            " the drained users API replicas must answer every request)"
        )
    if c.get("record_not_in_journal"):
        failures.append(f"{c['record_not_in_journal']} emails in fake-mail's record, not journaled")
    failures += [f"fault {f['label']}: {why}" for f in report.faults for why in did_not_bite(f)]
    failures += [f"secret in the logs: {hit}" for hit in report.secret_hits[:20]]
    failures += report.shared_servers.get("problems", [])
    return failures


async def _finish(run: Run) -> tuple[float | None, dict[str, Any], list[str], int]:
    quiet, _ = await quiesce(run)
    counts = await count(run)
    async with httpx.AsyncClient(timeout=5) as http:
        await all_ready(run, http, timeout=60)
        not_ready = []
        for process in run.stack.processes.values():
            try:
                status = (await http.get(f"{process.tech_url}/health/readyz")).status_code
            except httpx.TransportError:
                status = None
            if status != 200:
                not_ready.append(f"{process.name}: {status}")
        metrics = (await http.get(f"{run.stack.process('fake-mail').tech_url}/metrics")).text
    replays = sum(
        int(float(line.split()[-1]))
        for line in metrics.splitlines()
        if line.startswith("fake_mail_messages_replayed_total")
    )
    return quiet, counts, not_ready, replays


def _stack(
    run_id: str, log_dir: Path, servers: PrivateServers, latency: LatencyProxy, journal: Path
) -> Stack:
    return Stack(
        run_id=run_id,
        ports=Ports.free(),
        replicas=REPLICAS,
        log_dir=log_dir,
        env={
            "fake-mail": {
                "FAKE_MAIL_REJECT": f"@{REJECT_DOMAIN}",
                "FAKE_MAIL_JOURNAL": str(journal),  # every email sent, across its restart
            },
            # Behind the balancer, a replica keeps serving for a while after SIGTERM (rollout).
            "users-api": {"HTTP_DRAIN_DELAY": str(DRAIN_DELAY)},
            "notifications-consumer": {
                # The consumers reach the broker through the fault proxy (the amqp-latency fault).
                "NOTIFICATIONS_RABBITMQ_PORT": str(latency.port),
            },
        },
        servers=servers.servers,
        keep=True,  # its accounts go with the private servers
    )


def chaos(config: Config, *, log_dir: Path | None = None) -> Report:
    """Run the whole scenario on private servers, stopped and removed whatever happens.

    Returns:
        The report (its `failures` empty when every figure matched).
    """
    run_id = f"chaos{secrets.token_hex(4)}"
    log_dir = log_dir or config.out_dir / run_id / "logs"
    bodies, rejected = registrations(run_id, config.n)
    load_seconds, quiet, counts, not_ready, replays = 0.0, None, {}, ["not measured"], 0
    restored: list[str] = []
    where: dict[str, Any] = {}
    watch = SharedWatch().start()
    try:
        with PrivateServers(run_id) as private, LatencyProxy(private.rabbit.amqp_port) as latency:
            where = private.where()
            log_dir.mkdir(parents=True, exist_ok=True)
            journal = log_dir / "fake-mail.journal.jsonl"
            stack = _stack(run_id, log_dir, private, latency, journal)
            run = Run(stack, private, latency, config, [b["email"] for b in bodies], rejected)
            run.journal = journal
            run.guard = stack_guard = Reaper().start()
            try:
                stack.start(timeout=120)
            except BaseException:
                stack_guard.release()
                raise
            run.guard_processes()
            try:
                asyncio.run(drive(run, bodies))
                load_seconds = run.now()
                restored = private.restore()  # a fault that failed may have left one down
                quiet, counts, not_ready, replays = asyncio.run(_finish(run))
            finally:
                stack.stop()
                stack_guard.release()
    finally:
        watch.finish()
    errors = run.stats.server_errors
    for record, following in zip(run.faults, [*run.faults[1:], None], strict=True):
        record.first_success_s = first_success_after(run.stats.successes, record.ended)
        until = record.ended + (record.recovery_s or 0.0) + WINDOW_GRACE
        if following is not None:  # a 503 belongs to one fault only: the latest before it
            until = min(until, following.started)
        record.unavailable = sum(
            1 for t, status in errors if status == 503 and record.started <= t <= until
        )
        record.connection_errors = sum(
            1 for t in run.stats.connection_error_times if record.started <= t <= until
        )
    replays += sum(int(f.observed.get("replays", 0)) for f in run.faults)  # before a restart
    windows = outage_windows(run)
    stats = asdict(run.stats)
    del stats["server_errors"], stats["successes"], stats["connection_error_times"]
    # asdict rebuilds a Counter from its (key, value) pairs as if they were elements: plain dicts.
    stats |= {"statuses": dict(run.stats.statuses), "unexpected": dict(run.stats.unexpected)}
    stats["connection_error_kinds"] = dict(run.stats.connection_error_kinds)
    report = Report(
        run_id=run_id,
        n=config.n,
        rejected=len(rejected),
        scale=config.scale,
        load_seconds=round(load_seconds, 1),
        quiesce_seconds=None if quiet is None else round(quiet, 1),
        counts=counts,
        clients=stats,
        faults=[asdict(f) for f in run.faults],
        connections_closed=run.connections_closed,
        redeliveries=log_figures(log_dir),
        fake_mail_replays=replays,
        not_ready_at_end=not_ready,
        server_errors_not_503=sum(1 for _, status in errors if status != 503),
        unavailable_outside_windows=sum(
            1 for t, status in errors if status == 503 and not any(a <= t <= b for a, b in windows)
        ),
        secret_hits=secret_hits(log_dir, stack.secret_values()),
        servers_restored=restored,
        shared_servers=watch.summary(),
        private_servers=where,
    )
    report.failures = judge(report)
    return report


def save(report: Report, out_dir: Path, name: str) -> Path:
    """Write `<name>.json` and `<name>.txt` (the table) under `out_dir`; return the table's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{name}.json").write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
    table = out_dir / f"{name}.txt"
    table.write_text(report.table() + "\n")
    return table


def _interrupt(signum: int, frame: object) -> None:
    del signum, frame
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """`make chaos`: run, print the table, keep it in `.run/chaos/last.{json,txt}`.

    Also in `.run/chaos/<run id>/summary.{json,txt}`, beside the run's logs.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10_000, help="registrations (default 10000)")
    parser.add_argument("--scale", type=float, default=1.0, help="schedule time factor")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)  # a stopped `make` stops the stack too
    report = chaos(Config(n=args.n, scale=args.scale))
    save(report, OUT_DIR / report.run_id, "summary")  # beside the run's logs
    table = save(report, OUT_DIR, "last")
    sys.stdout.write(report.table() + f"\n\nwritten to {table.relative_to(REPO)} (and .json)\n")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
