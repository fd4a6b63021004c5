"""The chaos run on clusters: node kills of each kind under N registrations (issue 20).

    .venv/bin/python tests/chaos/chaos_cluster.py -n 5000     # what `make chaos-cluster` does

The same stack, load, counting and table as `chaos_run.py` (imported from it), on a clustered
topology of the run's own (`ClusterServers`, private processes on free ports, removed however
the run ends): a three-node RabbitMQ cluster (quorum queues, the services given every node in
`RABBITMQ_HOST`), a PostgreSQL primary with a streaming standby (synchronous: the primary's
commits wait for the standby; the services' DSN lists both hosts, `target_session_attrs=
read-write`) and a Redis master with a replica and three sentinels (`REDIS_SENTINELS`).

The faults, one at a time, each followed by the same recovery measurement as `chaos_run.py`
(readiness 200 on every process, the next 201), plus the next email delivered:

- SIGKILL of the Redis master: the sentinels promote the replica; the old master starts again
  and becomes a replica of the new one;
- the PostgreSQL primary crashes (`pg_ctl stop -m immediate`) and the standby is promoted
  (`pg_ctl promote`); the old primary stays gone (its host still listed in the DSN: refused);
- SIGKILL of the RabbitMQ node that leads the work queue (the quorum queue's leader, asked with
  `rabbitmqctl -n <a private node> list_queues name leader`); a new leader must be elected. The
  recovery is measured with the node down (the stack must recover on two nodes); then, after the
  fault's hold, it starts again and rejoins (a StatefulSet restarting its pod);
- SIGKILL of a RabbitMQ node that does not lead the work queue (consumers and publishers
  connected to it fail over to the others), started again the same way.

As in `chaos_run.py`, the stack's broker connections are also closed every few seconds. The
counts decide: every registration ends as exactly one email (none lost, none twice), nothing is
dead-lettered but the deliberately rejected addresses, no secret is in any log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, cast

import aio_pika
import asyncpg
import httpx

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for _path in (str(REPO / "tools"), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import chaos_run  # noqa: E402
from chaos_run import (  # noqa: E402
    REGISTERED_PROBE,
    REJECT_DOMAIN,
    REPLICAS,
    SENT_PROBE,
    WINDOW_GRACE,
    WORK_QUEUE,
    FaultRecord,
    Report,
    Run,
    all_ready,
    connection_killer,
    first_success_after,
    judge,
    load,
    log_figures,
    not_ready_now,
    registrations,
    save,
    secret_hits,
)
from chaos_servers import HOST, ServerError, SharedWatch  # noqa: E402
from devstack import Ports, Servers, Stack  # noqa: E402

sys.path.insert(0, str(REPO / "tests" / "e2e"))
from rollout_kit import Balancer  # noqa: E402

from svcinfra.testing import PrivatePostgres, PrivateServerError, free_port  # noqa: E402
from svcinfra.testing._rabbitcluster import PrivateRabbitCluster  # noqa: E402
from svcinfra.testing._rabbitnode import _SCRIPTS, PrivateRabbitNode, RabbitNodeError  # noqa: E402
from svcinfra.testing._reaper import Reaper  # noqa: E402
from svcinfra.testing._sentinel import PrivateRedisSentinel  # noqa: E402

if TYPE_CHECKING:
    from types import TracebackType

OUT_DIR = REPO / ".run" / "chaos-cluster"
SENTINEL_MASTER = "chaos"
NODE_TIMEOUT = 180.0  # seconds a killed RabbitMQ node may take to start and rejoin
CTL_TIMEOUT = 15.0  # seconds a connection killer's rabbitmqctl call may take (a node may be down)


@dataclass(frozen=True, slots=True)
class NodeFault:
    """One scheduled node kill: when (seconds after the load starts), what, how long it is down."""

    at: float
    # rabbitmq-leader-kill | rabbitmq-node-kill | redis-master-kill | postgres-failover
    kind: str
    hold: float = 0.0

    @property
    def label(self) -> str:
        """A short description for the tables."""
        return {
            "rabbitmq-leader-kill": (
                f"SIGKILL of the RabbitMQ node leading {WORK_QUEUE}, down {self.hold:g} s"
            ),
            "rabbitmq-node-kill": (
                f"SIGKILL of a RabbitMQ node not leading it, down {self.hold:g} s"
            ),
            "redis-master-kill": "SIGKILL of the Redis master (sentinel failover)",
            "postgres-failover": "PostgreSQL primary crashed (stop -m immediate), standby promoted",
        }[self.kind]


# The quick ones first: a killed RabbitMQ node takes tens of seconds to start and rejoin after
# the recovery is measured, and the schedule drifts by that much.
DURATION = 150.0
SCHEDULE = (
    NodeFault(6, "redis-master-kill"),
    NodeFault(24, "postgres-failover"),
    NodeFault(44, "rabbitmq-leader-kill", 6),
    NodeFault(96, "rabbitmq-node-kill", 6),
)
# Kinds whose 503s from the users API are allowed (it depends on that server); a RabbitMQ node
# kill touches nothing the API needs (its events wait in the outbox): a 503 there fails.
OUTAGES = frozenset({"redis-master-kill", "postgres-failover"})


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """What to run: N registrations over the schedule scaled by `scale` (0.5: twice as fast)."""

    n: int = 5000
    scale: float = 1.0
    out_dir: Path = OUT_DIR
    quiesce_timeout: float = 240.0

    @property
    def duration(self) -> float:
        """Seconds the registrations are spread over."""
        return DURATION * self.scale

    @property
    def schedule(self) -> tuple[NodeFault, ...]:
        """The faults, at scaled times and holds."""
        return tuple(NodeFault(f.at * self.scale, f.kind, f.hold * self.scale) for f in SCHEDULE)


class ClusterServers:
    """The run's RabbitMQ cluster, PostgreSQL primary + standby and Redis Sentinel set.

    The interface `chaos_run` uses of its `PrivateServers` (`servers`, `pg_admin`,
    `close_connections`, `restore`), plus the node faults. Removed on exit, and by guard
    processes when the run is killed outright.
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.base_dir = Path(tempfile.mkdtemp(prefix=f"svcinfra-chaoscluster-{run_id}-"))
        self.rabbit = PrivateRabbitCluster(run_id, self.base_dir)
        self.primary = PrivatePostgres(free_port(), settings={"max_connections": "300"})
        self.standby: PrivatePostgres | None = None
        self.old_primary: PrivatePostgres | None = None
        self.redis = PrivateRedisSentinel(service=SENTINEL_MASTER, base_dir=self.base_dir)
        self._rabbit_guard = Reaper()
        self._stack = contextlib.ExitStack()

    # -- what the stack is given -------------------------------------------------------------

    @property
    def servers(self) -> Servers:
        """Where the stack is provisioned: the primary, the first RabbitMQ node."""
        first = self.rabbit.nodes[0]
        return Servers(
            host=HOST,
            pg_port=self.primary.port,
            redis_port=self.redis.nodes[0].port,
            amqp_port=first.amqp_port,
            rabbitmqctl=(str(_SCRIPTS / "rabbitmqctl"), "-n", first.node),
            rabbitmqctl_env=first._env(),
        )

    def service_env(self, prefix: str) -> dict[str, str]:
        """The host lists of a service with `prefix` (`USERS_`, `NOTIFICATIONS_`)."""
        assert self.standby is not None
        pg_hosts = ",".join(f"{HOST}:{pg.port}" for pg in (self.primary, self.standby))
        amqp_hosts = ",".join(f"{HOST}:{node.amqp_port}" for node in self.rabbit.nodes)
        env = {f"{prefix}POSTGRES_HOST": pg_hosts, f"{prefix}RABBITMQ_HOST": amqp_hosts}
        if prefix == "USERS_":
            env |= {
                "USERS_REDIS_SENTINELS": self.redis.sentinels_env,
                "USERS_REDIS_SENTINEL_MASTER": SENTINEL_MASTER,
            }
        return env

    def where(self) -> dict[str, Any]:
        """Ports and directories (to check afterwards that nothing is left)."""
        assert self.standby is not None
        ports = [self.primary.port, self.standby.port]
        ports += [node.amqp_port for node in self.rabbit.nodes]
        ports += [node.port for node in self.redis.nodes] + [p for _, p in self.redis.sentinels]
        dirs = [self.base_dir] + [pg.root for pg in (self.primary, self.standby) if pg.root]
        return {
            "ports": ports,
            "dirs": [str(d) for d in dirs],
            "rabbitmq_nodes": [node.node for node in self.rabbit.nodes],
        }

    @property
    def pg(self) -> PrivatePostgres:
        """The current primary."""
        return self.primary

    def pg_admin(self, database: str) -> str:
        """The superuser's URL of `database` on the current primary."""
        return self.primary.dsn_for(database)

    # -- life cycle ------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        stack = self._stack
        try:
            stack.callback(shutil.rmtree, self.base_dir, ignore_errors=True)
            stack.enter_context(self._rabbit_guard)
            self._rabbit_guard.watch(dirs=[self.base_dir])
            stack.callback(self._close_pg)
            self.primary.setup()
            self.standby = self.primary.standby(free_port())
            # Synchronous replication, set after the base backup so that the standby does not
            # inherit it (promoted, it has no standby to wait for): a commit the primary
            # acknowledged is on the standby, and a crash of the primary loses none.
            sync = "ALTER SYSTEM SET synchronous_standby_names = '*'"
            asyncio.run(_execute(self.primary.dsn, sync, "SELECT pg_reload_conf()"))
            stack.enter_context(self.redis)
            stack.callback(self.rabbit.close)
            self.rabbit.start()
            self.guard_rabbit()
        except BaseException:
            stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _close_pg(self) -> None:
        for pg in (self.primary, self.standby, self.old_primary):  # promoted: the standby leads
            if pg is not None:
                with contextlib.suppress(Exception):
                    pg.close()

    def guard_rabbit(self) -> None:
        """Tell the guard the nodes' process groups as they are now (after a restart)."""
        groups = [node.pid for node in self.rabbit.nodes if node.pid is not None]
        self._rabbit_guard.watch(process_groups=groups, dirs=[self.base_dir])

    def any_node(self) -> PrivateRabbitNode:
        """A running RabbitMQ node (to ask the cluster)."""
        running = self.rabbit.running
        if not running:
            raise ServerError("no RabbitMQ node runs")
        return running[0]

    # -- faults ----------------------------------------------------------------------------------

    def leader(self, vhost: str) -> PrivateRabbitNode:
        """The node leading the work queue now."""
        try:
            return self.rabbit.leader(WORK_QUEUE, vhost)
        except RabbitNodeError as exc:
            raise ServerError(str(exc)) from exc

    def wait_new_leader(self, vhost: str, old: PrivateRabbitNode, timeout: float = 60.0) -> str:
        """Wait until a running node other than `old` leads the work queue; return its name."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(ServerError, RabbitNodeError):
                node = self.leader(vhost)
                if node is not old:
                    return node.node
            time.sleep(0.2)
        raise ServerError(f"{WORK_QUEUE}: no new leader within {timeout:.0f} s")

    def start_node(self, node: PrivateRabbitNode) -> None:
        """Start a killed node again (it rejoins the cluster) and wait for three members."""
        try:
            node.start(timeout=NODE_TIMEOUT)
            self.rabbit.wait_members(len(self.rabbit.nodes), timeout=NODE_TIMEOUT)
        except RabbitNodeError as exc:
            raise ServerError(str(exc)) from exc
        finally:
            self.guard_rabbit()

    def promote(self) -> None:
        """Crash the primary, promote the standby: it is the primary from now on."""
        assert self.standby is not None
        try:
            self.primary.kill()
            self.standby.promote()
        except PrivateServerError as exc:
            raise ServerError(str(exc)) from exc
        self.old_primary, self.primary = self.primary, self.standby
        self.standby = None

    def close_connections(self, vhost: str, users: set[str], *, limit: int) -> int:
        """Close up to `limit` connections of `users` on `vhost`, on any node of the cluster."""
        try:
            node = self.any_node()
            listing = node.ctl(
                "list_connections",
                "--no-table-headers",
                "pid",
                "user",
                "vhost",
                timeout=CTL_TIMEOUT,
            )
        except RabbitNodeError as exc:
            raise ServerError(str(exc)) from exc
        closed = 0
        for line in listing.splitlines():
            fields = line.split("\t")
            if len(fields) != 3 or fields[1] not in users or fields[2] != vhost:
                continue
            try:
                node.ctl(
                    "close_connection", fields[0], "chaos: connection closed", timeout=CTL_TIMEOUT
                )
            except RabbitNodeError:
                continue  # closed meanwhile, or its node died
            closed += 1
            if closed >= limit:
                break
        return closed

    def restore(self) -> list[str]:
        """Start every RabbitMQ node that is down (a fault that failed may have left one)."""
        done = []
        for node in self.rabbit.nodes:
            if node.pid is None:
                self.start_node(node)
                done.append(f"RabbitMQ {node.node} started again")
        return done


async def _execute(dsn: str, *statements: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def servers_of(run: Run) -> ClusterServers:
    """The run's cluster servers (`Run` is typed for the single-node ones)."""
    return cast("ClusterServers", run.servers)


async def deliveries(run: Run) -> int | None:
    """Deliveries recorded by notifications now (None: the database did not answer)."""
    try:
        rows = await chaos_run._fetch(
            run, run.stack.names.notifications_db, "SELECT count(*) AS n FROM deliveries"
        )
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return None
    return int(rows[0]["n"])


async def next_delivery(run: Run, before: int | None, timeout: float = 120.0) -> float | None:
    """Seconds until the deliveries grow past `before` (None: not within `timeout`)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        now = await deliveries(run)
        if now is not None and before is not None and now > before:
            return round(time.monotonic() - started, 2)
        before = now if before is None else before
        await asyncio.sleep(0.2)
    return None


async def inflict(run: Run, fault: NodeFault, record: FaultRecord) -> None:
    """Cause `fault`. The fault ends (`record.ended`) when the node is dead (or promoted)."""
    cluster, vhost = servers_of(run), run.stack.names.vhost
    seen = record.observed
    if fault.kind in {"rabbitmq-leader-kill", "rabbitmq-node-kill"}:
        async with run.broker_lock:
            leader = await asyncio.to_thread(cluster.leader, vhost)
            victim = leader
            if fault.kind == "rabbitmq-node-kill":
                victim = next(n for n in cluster.rabbit.nodes if n is not leader)
            seen["killed"] = victim.name.rsplit("-", 1)[-1]
            seen["leader before"] = leader.name.rsplit("-", 1)[-1]
            await asyncio.to_thread(victim.kill)
            record.ended = run.now()
            seen["killed at (s)"] = round(record.ended, 1)
            killed_at = time.monotonic()
            new = await asyncio.to_thread(cluster.wait_new_leader, vhost, victim)
            if fault.kind == "rabbitmq-leader-kill":
                seen["new leader after (s)"] = round(time.monotonic() - killed_at, 2)
            seen["leader after"] = new.rsplit("-", 1)[-1].split("@")[0]
    elif fault.kind == "redis-master-kill":
        old = await asyncio.to_thread(cluster.redis.kill_master)
        record.ended = run.now()
        seen["killed at (s)"] = round(record.ended, 1)
        killed_at = time.monotonic()
        new_master = await asyncio.to_thread(cluster.redis.wait_for_failover, old, timeout=60)
        seen["failover (s)"] = round(time.monotonic() - killed_at, 2)
        seen["master"] = f"{old[1]} -> {new_master[1]}"
    elif fault.kind == "postgres-failover":
        started = time.monotonic()
        await asyncio.to_thread(cluster.promote)
        record.ended = run.now()
        seen["promoted at (s)"] = round(record.ended, 1)
        seen["crash + promotion (s)"] = round(time.monotonic() - started, 2)
        seen["primary"] = f"{cluster.old_primary.port if cluster.old_primary else '?'}"
        seen["primary"] += f" -> {cluster.primary.port}"
    else:
        raise ValueError(f"unknown fault {fault.kind}")


async def repair(run: Run, fault: NodeFault, record: FaultRecord) -> None:
    """After the recovery was measured: the killed node back (a RabbitMQ node, the old master)."""
    cluster = servers_of(run)
    started = time.monotonic()
    if fault.kind in {"rabbitmq-leader-kill", "rabbitmq-node-kill"}:
        await asyncio.sleep(max(0.0, record.ended + fault.hold - run.now()))
        async with run.broker_lock:
            for node in cluster.rabbit.nodes:
                if node.pid is None:
                    await asyncio.to_thread(cluster.start_node, node)
        record.observed["node rejoined after (s)"] = round(time.monotonic() - started, 1)
    elif fault.kind == "redis-master-kill":
        for node in cluster.redis.nodes:
            if node.pid is None:
                await asyncio.to_thread(node.start)  # the sentinels make it a replica
        record.observed["old master back as replica"] = True


async def faults(run: Run, schedule: tuple[NodeFault, ...]) -> None:
    """Cause the faults one after the other, measuring each one's recovery, then repairing."""
    async with httpx.AsyncClient(timeout=2) as http:
        for fault in schedule:
            await asyncio.sleep(max(0.0, fault.at - run.now()))
            record = FaultRecord(fault.label, fault.kind, run.now())
            run.faults.append(record)
            before = await deliveries(run)
            record.observed["load running"] = run.now() < run.config.duration
            try:
                await inflict(run, fault, record)
            except Exception as exc:  # noqa: BLE001  (recorded: the run fails on it)
                record.error = f"{type(exc).__name__}: {exc}"
            record.ended = record.ended or run.now()
            # After the load only its backlog can still be delivered: wait 30 s at most then.
            wait = 120.0 if record.observed["load running"] else 30.0
            delivery = asyncio.create_task(next_delivery(run, before, wait))
            recovery = await all_ready(run, http)
            if recovery is not None:
                record.recovery_s = round(run.now() - record.ended, 2)
            else:
                record.not_ready = await not_ready_now(run, http)
            record.observed["next delivery (s)"] = await delivery
            try:
                await repair(run, fault, record)
            except Exception as exc:  # noqa: BLE001
                record.error = f"repair: {type(exc).__name__}: {exc}"


async def declare_probes(stack: Stack) -> None:
    """The run's own queues on both event exchanges, quorum queues as the stack's own.

    `chaos_run`'s probes are classic queues: on a cluster one lives on one node, and what is
    routed to it while that node is down is dropped (the count would show events "lost" that
    the stack delivered). A quorum queue has a member on every node.
    """
    connection = await aio_pika.connect(stack.amqp_admin_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        for queue_name, exchange, key in (
            (SENT_PROBE, "notifications.events", "notification.sent.v1"),
            (REGISTERED_PROBE, "users.events", "user.registered.v1"),
        ):
            queue = await channel.declare_queue(
                queue_name, durable=True, arguments={"x-queue-type": "quorum"}
            )
            await queue.bind(exchange, routing_key=key)


async def drive(run: Run, bodies: list[dict[str, str]], schedule: tuple[NodeFault, ...]) -> None:
    """The load, the node faults and the broker connection killer side by side."""
    await declare_probes(run.stack)
    ports = [p.api_port for p in run.stack.replicas_of("users-api") if p.api_port is not None]
    async with Balancer(ports) as balancer:
        run.balancer = balancer
        run.t0 = time.monotonic()
        stop = asyncio.Event()
        killer = asyncio.create_task(connection_killer(run, stop))
        try:
            await asyncio.gather(load(run, bodies), faults(run, schedule))
        finally:
            stop.set()
            await killer


def did_not_bite(fault: dict[str, Any]) -> list[str]:
    """Why a node fault's evidence shows it did not happen as scheduled (empty: it did)."""
    kind, seen = fault["kind"], fault.get("observed", {})
    if fault.get("error"):
        return []
    why = []
    if kind == "rabbitmq-leader-kill" and seen.get("leader after") in {None, seen.get("killed")}:
        why.append(f"the work queue's leader did not move: {seen}")
    if kind == "rabbitmq-node-kill" and seen.get("killed") == seen.get("leader before"):
        why.append(f"the leader was killed, not another node: {seen}")
    if kind == "redis-master-kill" and "failover (s)" not in seen:
        why.append("no sentinel failover")
    if kind == "postgres-failover" and "crash + promotion (s)" not in seen:
        why.append("no promotion")
    if seen.get("load running") and seen.get("next delivery (s)") is None:
        why.append("no email delivered after the fault")
    return why


def _stack(run_id: str, log_dir: Path, cluster: ClusterServers, journal: Path) -> Stack:
    users, notifications = cluster.service_env("USERS_"), cluster.service_env("NOTIFICATIONS_")
    return Stack(
        run_id=run_id,
        ports=Ports.free(),
        replicas=REPLICAS,
        log_dir=log_dir,
        env={
            "fake-mail": {
                "FAKE_MAIL_REJECT": f"@{REJECT_DOMAIN}",
                "FAKE_MAIL_JOURNAL": str(journal),
            },
            "users-api": users | {"HTTP_DRAIN_DELAY": str(chaos_run.DRAIN_DELAY)},
            "users-relay": users,
            "notifications-consumer": notifications,
            "notifications-relay": notifications,
        },
        servers=cluster.servers,
        keep=True,  # its accounts go with the private servers
    )


def chaos_cluster(config: ClusterConfig, *, log_dir: Path | None = None) -> Report:
    """Run the scenario on a private clustered topology, removed whatever happens."""
    run_id = f"chaosc{secrets.token_hex(4)}"
    log_dir = log_dir or config.out_dir / run_id / "logs"
    bodies, rejected = registrations(run_id, config.n)
    load_seconds, quiet, counts, not_ready, replays = 0.0, None, {}, ["not measured"], 0
    restored: list[str] = []
    where: dict[str, Any] = {}
    started = time.monotonic()
    setup_seconds = 0.0
    watch = SharedWatch().start()
    try:
        with ClusterServers(run_id) as cluster:
            where = cluster.where()
            log_dir.mkdir(parents=True, exist_ok=True)
            journal = log_dir / "fake-mail.journal.jsonl"
            stack = _stack(run_id, log_dir, cluster, journal)
            # chaos_run's load spreads the registrations over its Config's duration: this one's.
            scale = config.duration / chaos_run.DURATION
            run_config = chaos_run.Config(
                n=config.n, scale=scale, quiesce_timeout=config.quiesce_timeout
            )
            run = Run(stack, cast("Any", cluster), cast("Any", None), run_config,
                      [b["email"] for b in bodies], rejected)  # fmt: skip
            run.journal = journal
            run.guard = stack_guard = Reaper().start()
            try:
                stack.start(timeout=180)
            except BaseException:
                stack_guard.release()
                raise
            run.guard_processes()
            setup_seconds = time.monotonic() - started
            try:
                asyncio.run(drive(run, bodies, config.schedule))
                load_seconds = run.now()
                restored = cluster.restore()
                quiet, counts, not_ready, replays = asyncio.run(chaos_run._finish(run))
            finally:
                stack.stop()
                stack_guard.release()
    finally:
        watch.finish()
    report = _report(run, config, load_seconds, (quiet, counts, not_ready, replays), log_dir)
    report.servers_restored = restored
    report.shared_servers = watch.summary()
    report.private_servers = where | {"setup_seconds": round(setup_seconds, 1)}
    report.failures = judge(report)
    report.failures += [
        f"fault {f['label']}: {why}" for f in report.faults for why in did_not_bite(f)
    ]
    return report


def _report(
    run: Run,
    config: ClusterConfig,
    load_seconds: float,
    ending: tuple[float | None, dict[str, Any], list[str], int],
    log_dir: Path,
) -> Report:
    """The report of a finished run (its failures not judged yet)."""
    quiet, counts, not_ready, replays = ending
    errors = run.stats.server_errors
    for record, following in zip(run.faults, [*run.faults[1:], None], strict=True):
        record.first_success_s = first_success_after(run.stats.successes, record.ended)
        until = record.ended + (record.recovery_s or 0.0) + WINDOW_GRACE
        if following is not None:
            until = min(until, following.started)
        record.unavailable = sum(
            1 for t, status in errors if status == 503 and record.started <= t <= until
        )
        record.connection_errors = sum(
            1 for t in run.stats.connection_error_times if record.started <= t <= until
        )
    windows = [
        (f.started, f.ended + (f.recovery_s or 0.0) + WINDOW_GRACE)
        for f in run.faults
        if f.kind in OUTAGES
    ]
    stats = asdict(run.stats)
    del stats["server_errors"], stats["successes"]
    stats |= {"statuses": dict(run.stats.statuses), "unexpected": dict(run.stats.unexpected)}
    # When and what (ConnectError, ReadTimeout...): a connection error fails the run.
    stats["connection_error_times"] = [round(t, 1) for t in run.stats.connection_error_times]
    stats["connection_error_kinds"] = dict(run.stats.connection_error_kinds)
    return Report(
        run_id=run.stack.run_id or "",
        n=config.n,
        rejected=len(run.rejected),
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
        secret_hits=secret_hits(log_dir, run.stack.secret_values()),
        servers_restored=[],
    )


def table(report: Report) -> str:
    """`chaos_run`'s table under a heading of the clustered run."""
    _, _, rest = report.table().partition("\n")
    heading = (
        f"clustered chaos run {report.run_id}: N={report.n} ({report.rejected} to rejected"
        f" addresses), schedule x{report.scale:g}; RabbitMQ 3 nodes (quorum queues), PostgreSQL"
        " primary + synchronous standby, Redis master + replica + 3 sentinels; 2 replicas of"
        " users-api, users-relay, notifications-consumer;"
        f" set-up {report.private_servers.get('setup_seconds')} s"
    )
    extra = sum(1 for f in report.faults if did_not_bite(f))
    lines = [heading, rest, "", f"node faults without their evidence: {extra}"]
    if report.clients.get("connection_errors"):
        lines.insert(
            2,
            f"client connection errors at (s): {report.clients.get('connection_error_times')}"
            f" {report.clients.get('connection_error_kinds')}\n",
        )
    lines += [f"  - {f['label']}: {_observed(f.get('observed', {}))}" for f in report.faults]
    return "\n".join(lines)


def save_cluster(report: Report, out_dir: Path, name: str) -> Path:
    """`chaos_run.save` with this run's table in `<name>.txt`; return the table's path."""
    path = save(report, out_dir, name)
    path.write_text(table(report) + "\n")
    return path


def _observed(seen: dict[str, Any]) -> str:
    return "; ".join(f"{k}: {v}" for k, v in seen.items())


def _interrupt(signum: int, frame: object) -> None:
    del signum, frame
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """`make chaos-cluster`: run, print the table, keep it in `.run/chaos-cluster/last.*`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5000, help="registrations (default 5000)")
    parser.add_argument("--scale", type=float, default=1.0, help="schedule time factor")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    report = chaos_cluster(ClusterConfig(n=args.n, scale=args.scale))
    save_cluster(report, OUT_DIR / report.run_id, "summary")  # beside the run's logs
    path = save_cluster(report, OUT_DIR, "last")
    sys.stdout.write(table(report) + f"\n\nwritten to {path.relative_to(REPO)} (and .json)\n")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
