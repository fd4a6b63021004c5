"""The shared loopback servers, stopped and started with their own controls, and always restored.

The chaos run restarts the very servers CI and every other test use, so whatever it stops it
starts again: `restore` brings each one back (whatever state a failure or a Ctrl-C left it in)
and checks that it answers before it returns.

The commands are those of the development machine (`scripts/infra.sh up` sets it up this way);
each can be replaced through an environment variable for another layout:

- PostgreSQL: `pg_ctlcluster --skip-systemctl-redirect <version> <cluster> restart|start`
  (`CHAOS_PG_CLUSTER`, e.g. `15/main`; default: the newest cluster of `/etc/postgresql`).
- Redis: `redis-cli shutdown nosave`, then the start command of `CHAOS_REDIS_START`.
- RabbitMQ: `rabbitmqctl stop_app` / `start_app`, `close_connection`.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

PG_PORT, REDIS_PORT, AMQP_PORT = 5432, 6379, 5672
HOST = "127.0.0.1"
REDIS_START = (
    'redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no'
    " --dir /var/lib/redis --logfile /var/log/redis/ci.log"
)
COMMAND_TIMEOUT = 120.0
READY_TIMEOUT = 60.0


class ServerError(RuntimeError):
    """A server control command failed, or a server did not come back."""


def _exe(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin:/usr/bin")
    if found is None:
        raise ServerError(f"{name} is not installed")
    return found


def run(*argv: str, timeout: float = COMMAND_TIMEOUT) -> str:
    """Run a server control command; return its output.

    Raises:
        ServerError: it failed or timed out (its output says why).
    """
    try:
        done = subprocess.run(
            [_exe(argv[0]), *argv[1:]],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ServerError(f"{argv[0]} {argv[1:]} timed out") from exc
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip()[-500:]
        raise ServerError(f"{' '.join(argv[:3])} failed ({done.returncode}): {message}")
    return done.stdout


def listening(port: int) -> bool:
    """Whether something accepts TCP connections on the loopback `port`."""
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def pg_cluster() -> tuple[str, str]:
    """The PostgreSQL cluster's version and name (`CHAOS_PG_CLUSTER` or the newest one)."""
    configured = os.environ.get("CHAOS_PG_CLUSTER")
    if configured:
        version, _, name = configured.partition("/")
        return version, name or "main"
    versions = sorted(
        (p.name for p in Path("/etc/postgresql").iterdir() if p.name.isdigit()), key=int
    )
    if not versions:
        raise ServerError("no PostgreSQL cluster found; set CHAOS_PG_CLUSTER=<version>/<name>")
    return versions[-1], "main"


def pg_ctl(action: str) -> None:
    """`pg_ctlcluster <version> <name> <action>` (restart, start)."""
    version, name = pg_cluster()
    run("pg_ctlcluster", "--skip-systemctl-redirect", version, name, action)


def pg_ready() -> bool:
    """Whether PostgreSQL accepts connections (not merely a listening socket)."""
    try:
        run("pg_isready", "-q", "-h", HOST, "-p", str(PG_PORT), timeout=10)
    except ServerError:
        return False
    return True


def redis_ready() -> bool:
    """Whether Redis answers PING."""
    try:
        return run("redis-cli", "-h", HOST, "-p", str(REDIS_PORT), "ping", timeout=5).strip() == (
            "PONG"
        )
    except ServerError:
        return False


def redis_stop() -> None:
    """Shut Redis down without saving (its data is a cache)."""
    run("redis-cli", "-h", HOST, "-p", str(REDIS_PORT), "shutdown", "nosave")


def redis_start() -> None:
    """Start Redis again with the command it was first started with."""
    run(*shlex.split(os.environ.get("CHAOS_REDIS_START", REDIS_START)))


def rabbitmqctl(*args: str) -> str:
    """`rabbitmqctl --silent <args>`."""
    return run("rabbitmqctl", "--silent", *args)


def rabbit_ready() -> bool:
    """Whether the RabbitMQ application runs and accepts AMQP connections."""
    return listening(AMQP_PORT)


def close_connections(vhost: str, users: set[str], *, limit: int) -> int:
    """Close up to `limit` connections of `users` on `vhost` (the stack's own only).

    Returns:
        How many were closed.
    """
    closed = 0
    for line in rabbitmqctl("list_connections", "pid", "user", "vhost").splitlines():
        fields = line.split("\t")
        if len(fields) != 3 or fields[1] not in users or fields[2] != vhost:
            continue
        try:
            rabbitmqctl("close_connection", fields[0], "chaos: connection closed on schedule")
        except ServerError:
            continue  # closed meanwhile
        closed += 1
        if closed >= limit:
            break
    return closed


def _wait(ready: Callable[[], bool], what: str, timeout: float = READY_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise ServerError(f"{what} did not come back within {timeout:.0f} s")
        time.sleep(0.2)


def restore() -> list[str]:
    """Start every server that is down and wait until each answers.

    Never stops at the first problem: every server gets its chance.

    Returns:
        What was done (empty when all three were up).

    Raises:
        ServerError: a server is still down afterwards (naming every one).
    """
    done: list[str] = []
    problems: list[str] = []
    checks = (
        ("PostgreSQL", pg_ready, lambda: pg_ctl("start")),
        ("Redis", redis_ready, redis_start),
        ("RabbitMQ", rabbit_ready, lambda: rabbitmqctl("start_app")),
    )
    for name, ready, start in checks:
        try:
            if not ready():
                start()
                done.append(f"{name} started again")
            _wait(ready, name)
        except ServerError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise ServerError("servers left down: " + "; ".join(problems))
    return done
