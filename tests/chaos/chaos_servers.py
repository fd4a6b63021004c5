"""The chaos run's own PostgreSQL, Redis and RabbitMQ, and a watch on the machine's shared ones.

The run stops, restarts and disconnects its servers on a schedule. It never does that to the
shared loopback servers (every other test, and a developer's other work, use them): it starts
private instances on ports of its own (`PrivateServers`): a PostgreSQL 15 `initdb`ed into a
temporary directory (`svcinfra.testing.PrivatePostgres`), a `redis-server` without persistence
(`svcinfra.testing.PrivateRedis`) and a RabbitMQ node of its own name, ports and directory
(`svcinfra.testing._rabbitnode.PrivateRabbitNode`). The whole stack runs and is provisioned on
them, and they are removed when the run ends; a guard process removes them too when the run is
killed outright, so nothing is left to restore.

`SharedWatch` proves the shared servers were left alone: their start times (PostgreSQL's
`pg_postmaster_start_time()`, Redis's `run_id` and start from `uptime_in_seconds`, the RabbitMQ
VM's start from `rabbitmqctl status`), read before and after the run, and one idle connection to
each, held across the run and used at its end (a restart, a shutdown or a `stop_app` of a shared
server would have closed it).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self, TypeVar

import aio_pika
import asyncpg
import redis
from devstack import Servers

from svcinfra.testing import (
    FaultProxy,
    PrivatePostgres,
    PrivateRedis,
    PrivateServerError,
    free_port,
)
from svcinfra.testing._rabbitnode import PrivateRabbitNode, RabbitNodeError
from svcinfra.testing._reaper import Reaper

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from types import TracebackType

HOST = "127.0.0.1"
SHARED_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
SHARED_REDIS = "redis://127.0.0.1:6379/0"
SHARED_AMQP = "amqp://guest:guest@127.0.0.1:5672/"
READY_TIMEOUT = 60.0
_RABBITMQCTL = Path("/usr/lib/rabbitmq/bin/rabbitmqctl")
T = TypeVar("T")


class ServerError(RuntimeError):
    """A private server failed a control command, or did not come back."""


class PrivateServers:
    """PostgreSQL, Redis and a RabbitMQ node of one chaos run, on free ports; removed on exit.

    with PrivateServers("chaos1a2b") as servers:
        Stack(..., servers=servers.servers)
        servers.pg.restart()
    """

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.pg = PrivatePostgres(free_port(), settings={"max_connections": "300"})
        self.redis = PrivateRedis(free_port())
        self._rabbit_dir = Path(tempfile.gettempdir()) / f"svcinfra-rabbit-{run_id}"
        self.rabbit = PrivateRabbitNode(
            f"svcinfra-chaos-{run_id}",
            free_port(),
            free_port(),
            self._rabbit_dir,
            ctl_dist_port=free_port(),
        )
        # PrivateRabbitNode removes its node on close() only: this guard removes it (process
        # group and directory) when the run is killed before it gets there.
        self._rabbit_guard = Reaper()
        self._stack = contextlib.ExitStack()

    @property
    def servers(self) -> Servers:
        """Where the stack runs and is provisioned: these three servers."""
        return Servers(
            host=HOST,
            pg_port=self.pg.port,
            redis_port=self.redis.port,
            amqp_port=self.rabbit.amqp_port,
            rabbitmqctl=(str(_RABBITMQCTL), "-n", self.rabbit.node),
            rabbitmqctl_env=self.rabbit._env(),
        )

    def where(self) -> dict[str, Any]:
        """The servers' ports and directories (to check afterwards that nothing is left)."""
        return {
            "ports": [self.pg.port, self.redis.port, self.rabbit.amqp_port, self.rabbit.dist_port],
            "dirs": [str(p) for p in (self.pg.root, self.redis.root, self._rabbit_dir) if p],
            "rabbitmq_node": self.rabbit.node,
        }

    def pg_admin(self, database: str) -> str:
        """The superuser's URL of `database` on the private PostgreSQL."""
        return self.pg.dsn_for(database)

    def __enter__(self) -> Self:
        try:
            self._rabbit_dir.mkdir(mode=0o700)
            self._stack.callback(shutil.rmtree, self._rabbit_dir, ignore_errors=True)
            self._stack.enter_context(self._rabbit_guard)
            self._rabbit_guard.watch(dirs=[self._rabbit_dir])
            self._stack.enter_context(self.pg)
            self._stack.enter_context(self.redis)
            self._stack.callback(self.rabbit.close)
            self.rabbit.start()
            self._guard_rabbit()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stack.close()

    def _guard_rabbit(self) -> None:
        pid = self.rabbit.pid
        groups = [pid] if pid is not None else []  # a session leader: its pid is its group
        self._rabbit_guard.watch(process_groups=groups, dirs=[self._rabbit_dir])

    # -- faults ----------------------------------------------------------------------------------

    def pg_restart(self) -> None:
        """`pg_ctl restart -m fast` on the private PostgreSQL."""
        _control(self.pg.restart)

    def redis_stop(self) -> None:
        """Stop the private Redis (SIGTERM, no save: its data is a cache)."""
        _control(self.redis.stop)

    def redis_start(self) -> None:
        """Start the private Redis again (empty) and wait for PING."""
        _control(self.redis.start)

    def rabbit_stop_app(self) -> None:
        """`rabbitmqctl stop_app` on the private node: the broker is down, the VM stays up."""
        _control(self.rabbit.stop_app)

    def rabbit_start_app(self) -> None:
        """`rabbitmqctl start_app` on the private node, then wait until it serves AMQP."""
        _control(self.rabbit.start_app)

    def close_connections(self, vhost: str, users: set[str], *, limit: int) -> int:
        """Close up to `limit` connections of `users` on `vhost` of the private node.

        Returns:
            How many were closed.
        """
        listing = _control(
            self.rabbit.ctl, "list_connections", "--no-table-headers", "pid", "user", "vhost"
        )
        closed = 0
        for line in listing.splitlines():
            fields = line.split("\t")
            if len(fields) != 3 or fields[1] not in users or fields[2] != vhost:
                continue
            try:
                self.rabbit.ctl("close_connection", fields[0], "chaos: connection closed")
            except RabbitNodeError:
                continue  # closed meanwhile
            closed += 1
            if closed >= limit:
                break
        return closed

    # -- readiness ---------------------------------------------------------------------------------

    def pg_ready(self) -> bool:
        """Whether the private PostgreSQL accepts connections."""
        try:
            asyncio.run(_fetchval(self.pg.dsn, "SELECT 1"))
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        return True

    def redis_ready(self) -> bool:
        """Whether the private Redis answers PING."""
        return self.redis.running

    def rabbit_ready(self) -> bool:
        """Whether the private node's RabbitMQ application serves AMQP."""
        try:
            self.rabbit.ctl("await_startup", timeout=10)
        except RabbitNodeError:
            return False
        return _listening(self.rabbit.amqp_port)

    def restore(self) -> list[str]:
        """Start every private server that is down and wait until each answers.

        Returns:
            What was done (empty when all three were up).

        Raises:
            ServerError: a server is still down afterwards (naming every one).
        """
        done: list[str] = []
        problems: list[str] = []
        checks: tuple[tuple[str, Callable[[], bool], Callable[[], object]], ...] = (
            ("PostgreSQL", self.pg_ready, self.pg.start),
            ("Redis", self.redis_ready, self.redis.start),
            ("RabbitMQ", self.rabbit_ready, self.rabbit.start_app),
        )
        for name, ready, start in checks:
            try:
                if not ready():
                    start()
                    done.append(f"{name} started again")
                _wait(ready, name)
            except (ServerError, PrivateServerError, RabbitNodeError) as exc:
                problems.append(f"{name}: {exc}")
        if problems:
            raise ServerError("private servers left down: " + "; ".join(problems))
        return done


class LatencyProxy:
    """A `FaultProxy` in front of the private node's AMQP port, on a thread of its own.

    The consumers connect through it, so the run can add latency between them and the broker
    (`set_latency`) while every other process talks to the broker directly.
    """

    def __init__(self, upstream_port: int) -> None:
        self.proxy = FaultProxy(HOST, upstream_port, port=free_port())
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port the consumers connect to."""
        return self.proxy.port

    def __enter__(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.proxy.start(), self._loop).result(timeout=10)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self.proxy.close(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()

    def set_latency(self, seconds: float) -> None:
        """Delay every chunk forwarded either way by `seconds` from now on (0: none)."""
        self._loop.call_soon_threadsafe(setattr, self.proxy, "latency", seconds)


def _control(action: Callable[..., T], *args: str) -> T:
    try:
        return action(*args)
    except (PrivateServerError, RabbitNodeError) as exc:
        raise ServerError(str(exc)) from exc


def _listening(port: int) -> bool:
    import socket  # noqa: PLC0415  (only here)

    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def _wait(ready: Callable[[], bool], what: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise ServerError(f"{what} did not come back within {timeout:.0f} s")
        time.sleep(0.2)


async def _fetchval(dsn: str, query: str) -> Any:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


# -- the shared servers, watched -------------------------------------------------------------------


def shared_start_times() -> dict[str, str | None]:
    """When each shared server's process started, as the servers report it (None: down).

    Each value is `<start, UTC, to the second> (<identity>)`. PostgreSQL: the postmaster's
    `pg_postmaster_start_time()`. Redis: `now - uptime_in_seconds` (and its `run_id`,
    new at every start). RabbitMQ: `now - uptime` of `rabbitmqctl status` (and the VM's OS pid;
    a `stop_app` keeps the VM: the watch's held connection shows that one).
    """
    now = datetime.now(UTC).replace(microsecond=0)
    times: dict[str, str | None] = {"postgresql": None, "redis": None, "rabbitmq": None}
    with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
        started = asyncio.run(_fetchval(SHARED_PG, "SELECT pg_postmaster_start_time()"))
        times["postgresql"] = started.astimezone(UTC).isoformat(timespec="seconds")
    with contextlib.suppress(redis.RedisError):
        client = redis.Redis.from_url(SHARED_REDIS, socket_timeout=5)
        try:
            info = client.info("server")
        finally:
            client.close()
        start = now - timedelta(seconds=int(info["uptime_in_seconds"]))
        times["redis"] = f"{start.isoformat()} (run_id {str(info['run_id'])[:12]})"
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        status = subprocess.run(
            ["rabbitmqctl", "status"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        answered = datetime.now(UTC).replace(microsecond=0)  # the command takes seconds
        pid_found = re.search(r"OS PID: (\d+)", status)
        uptime = re.search(r"Uptime \(seconds\): (\d+)", status)
        if pid_found and uptime:
            start = answered - timedelta(seconds=int(uptime[1]))
            times["rabbitmq"] = f"{start.isoformat()} (OS pid {pid_found[1]})"
    return times


def same_start(before: str | None, after: str | None, *, tolerance: float = 10.0) -> bool:
    """Whether two readings of `shared_start_times` name the same process.

    The identity must be equal; a start computed from an uptime may differ by a few seconds
    (the uptime is whole seconds, read while `rabbitmqctl` runs on a busy machine), never by more
    than `tolerance` (a restart also changes the identity).
    """
    if before is None or after is None:
        return before == after
    start_a, _, identity_a = before.partition(" ")
    start_b, _, identity_b = after.partition(" ")
    gap = abs((datetime.fromisoformat(start_a) - datetime.fromisoformat(start_b)).total_seconds())
    return identity_a == identity_b and gap <= tolerance


@dataclass
class SharedWatch:
    """The shared servers' start times before and after, and a connection held to each across."""

    before: dict[str, str | None] = field(default_factory=dict)
    after: dict[str, str | None] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # server -> "kept" or what broke
    _loop: asyncio.AbstractEventLoop | None = field(default=None, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _connections: dict[str, Any] = field(default_factory=dict, repr=False)

    def start(self) -> Self:
        """Read the start times and open the held connections (on a thread of their own)."""
        self.before = shared_start_times()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._call(self._open())
        return self

    def finish(self) -> Self:
        """Use each held connection, close it, and read the start times again."""
        if self._loop is not None and self._thread is not None:
            self.held = self._call(self._check())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            self._loop.close()
            self._loop = self._thread = None
        self.after = shared_start_times()
        return self

    @property
    def problems(self) -> list[str]:
        """What shows a shared server was stopped, restarted or disconnected (empty: none)."""
        found = [
            f"shared {name} start changed: {self.before.get(name)} -> {self.after.get(name)}"
            for name in ("postgresql", "redis", "rabbitmq")
            if not same_start(self.before.get(name), self.after.get(name))
        ]
        found += [f"shared {name}: held connection {state}" for name, state in self.held.items()
                  if state != "kept"]  # fmt: skip
        return found

    def summary(self) -> dict[str, Any]:
        """The figures for the report, with the problems found (empty: left alone)."""
        return {
            "before": self.before,
            "after": self.after,
            "held": self.held,
            "problems": self.problems,
        }

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=60)

    async def _open(self) -> None:
        with contextlib.suppress(OSError, asyncpg.PostgresError, TimeoutError):
            self._connections["postgresql"] = await asyncpg.connect(SHARED_PG, timeout=10)
        with contextlib.suppress(OSError, TimeoutError):
            reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, 6379), 10)
            self._connections["redis"] = (reader, writer)
        with contextlib.suppress(OSError, TimeoutError, aio_pika.exceptions.AMQPError):
            self._connections["rabbitmq"] = await aio_pika.connect(SHARED_AMQP, timeout=10)

    async def _check(self) -> dict[str, str]:
        held = dict.fromkeys(
            ("postgresql", "redis", "rabbitmq"), "not opened (server down at the start)"
        )
        if (pg := self._connections.pop("postgresql", None)) is not None:
            try:
                await pg.fetchval("SELECT 1", timeout=10)
                held["postgresql"] = "kept"
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                held["postgresql"] = f"lost ({type(exc).__name__})"
            finally:
                pg.terminate()
        if (pair := self._connections.pop("redis", None)) is not None:
            reader, writer = pair
            try:
                writer.write(b"PING\r\n")
                await writer.drain()
                answer = await asyncio.wait_for(reader.readline(), 10)
                held["redis"] = "kept" if answer.startswith(b"+PONG") else "lost (closed)"
            except (OSError, TimeoutError) as exc:
                held["redis"] = f"lost ({type(exc).__name__})"
            finally:
                writer.close()
        if (amqp := self._connections.pop("rabbitmq", None)) is not None:
            try:
                if amqp.is_closed:
                    held["rabbitmq"] = "lost (closed by the broker)"
                else:
                    channel = await amqp.channel()
                    await channel.close()
                    held["rabbitmq"] = "kept"
            except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
                held["rabbitmq"] = f"lost ({type(exc).__name__})"
            finally:
                await amqp.close()
        return held
