"""Per-service accounts on the shared servers: PostgreSQL roles and databases, RabbitMQ users.

CF-4: every service gets its own role owning its own database, and its own broker user whose
permissions match its own exchanges and queues (regular expressions over resource names, the
only form RabbitMQ has). Passwords never appear on a command line or in SQL text: PostgreSQL gets
a SCRAM-SHA-256 verifier computed here, `rabbitmqctl` reads the password from its stdin.

The admin side uses what the development servers provide on loopback: the `postgres` superuser
(trust auth) and `rabbitmqctl` (root, or a user that can read the Erlang cookie); by default on
the shared servers, or on the private ones a `Servers` names.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import secrets
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import asyncpg

from ._servers import SHARED, Servers

if TYPE_CHECKING:
    from collections.abc import Coroutine

PG_HOST, PG_PORT = SHARED.host, SHARED.pg_port
PG_ADMIN_DSN = SHARED.pg_admin_dsn
AMQP_ADMIN = ("guest", "guest")
SCRAM_ITERATIONS = 4096
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_RABBITMQCTL_TIMEOUT = 30.0
T = TypeVar("T")


class ProvisionError(RuntimeError):
    """A server refused to create or drop a service's account."""


@dataclass(frozen=True, slots=True)
class Grant:
    """RabbitMQ permissions of one user on one vhost: regular expressions over resource names."""

    configure: str
    write: str
    read: str


def run_async(coro: Coroutine[object, object, T]) -> T:
    """Run `coro` to completion in a fresh event loop on a worker thread.

    Safe to call from synchronous code whether or not the calling thread runs an event loop.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def scram_verifier(password: str, *, salt: bytes | None = None) -> str:
    """Return PostgreSQL's stored form of `password` (`SCRAM-SHA-256$<iter>:<salt>$<keys>`).

    The same computation libpq's `PQencryptPasswordConn` makes (RFC 5802, RFC 7677), so the
    server never sees the plain password.
    """
    salt = salt if salt is not None else secrets.token_bytes(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, SCRAM_ITERATIONS)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${SCRAM_ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def _identifier(name: str) -> str:
    if not _NAME.match(name):
        raise ProvisionError(f"not a plain lowercase identifier: {name!r}")
    return f'"{name}"'


async def _ensure_postgres(role: str, db: str, password: str, admin_dsn: str) -> None:
    role_id, db_id = _identifier(role), _identifier(db)
    verifier = scram_verifier(password)  # base64, '$' and ':' only: safe inside a literal
    admin = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        if await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role):
            await admin.execute(f"ALTER ROLE {role_id} WITH LOGIN PASSWORD '{verifier}'")
        else:
            await admin.execute(f"CREATE ROLE {role_id} WITH LOGIN PASSWORD '{verifier}'")
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", db):
            await admin.execute(f"CREATE DATABASE {db_id} OWNER {role_id}")
        await admin.execute(f"ALTER DATABASE {db_id} OWNER TO {role_id}")
        # No shared database (PG-12): only the owner (and superusers) may connect to it.
        await admin.execute(f"REVOKE ALL ON DATABASE {db_id} FROM PUBLIC")
    finally:
        await admin.close()


async def _drop_postgres(role: str, db: str, admin_dsn: str) -> None:
    admin = await asyncpg.connect(admin_dsn, timeout=10)
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {_identifier(db)} WITH (FORCE)")
        await admin.execute(f"DROP ROLE IF EXISTS {_identifier(role)}")
    finally:
        await admin.close()


def ensure_postgres(role: str, db: str, password: str, *, servers: Servers = SHARED) -> None:
    """Create (or update) `role` with `password`, and `db` owned by it."""
    try:
        run_async(_ensure_postgres(role, db, password, servers.pg_admin_dsn))
    except (OSError, asyncpg.PostgresError) as exc:
        raise ProvisionError(f"PostgreSQL: cannot provision {role}/{db}: {exc}") from exc


def drop_postgres(role: str, db: str, *, servers: Servers = SHARED) -> None:
    """Drop `db` (closing its connections) and `role`."""
    try:
        run_async(_drop_postgres(role, db, servers.pg_admin_dsn))
    except (OSError, asyncpg.PostgresError) as exc:
        raise ProvisionError(f"PostgreSQL: cannot drop {role}/{db}: {exc}") from exc


def rabbitmqctl(*args: str, stdin: str | None = None, servers: Servers = SHARED) -> str:
    """Run `rabbitmqctl --silent <args>` (the command of `servers`) and return its output.

    Raises:
        ProvisionError: rabbitmqctl is missing or failed (its message says why).
    """
    command, *options = servers.rabbitmqctl
    exe = shutil.which(command) or shutil.which(command, path="/usr/sbin:/sbin")
    if exe is None:
        raise ProvisionError("rabbitmqctl is not installed (scripts/infra.sh up installs RabbitMQ)")
    try:
        done = subprocess.run(  # noqa: S603  (fixed executable, arguments are names)
            [exe, *options, "--silent", *args],
            env=os.environ | dict(servers.rabbitmqctl_env) if servers.rabbitmqctl_env else None,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=_RABBITMQCTL_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ProvisionError(f"rabbitmqctl {args[0]} timed out") from exc
    if done.returncode != 0:
        hint = "" if done.returncode != 69 else " (is RabbitMQ running? run it as root)"  # noqa: PLR2004
        message = (done.stderr or done.stdout).strip()
        raise ProvisionError(f"rabbitmqctl {args[0]} failed{hint}: {message}")
    return done.stdout


def ensure_vhost(vhost: str, *, servers: Servers = SHARED) -> None:
    """Create `vhost` if missing and give the admin user (guest) every permission on it."""
    if vhost not in rabbitmqctl("list_vhosts", "name", servers=servers).split():
        rabbitmqctl("add_vhost", vhost, servers=servers)
    rabbitmqctl("set_permissions", "-p", vhost, AMQP_ADMIN[0], ".*", ".*", ".*", servers=servers)


def ensure_rabbitmq_user(
    user: str, password: str, vhost: str, grant: Grant, *, servers: Servers = SHARED
) -> None:
    """Create (or update) the broker `user` with `password` and `grant` on `vhost`."""
    listing = rabbitmqctl("list_users", servers=servers)
    users = {line.split("\t")[0] for line in listing.splitlines()}
    # The password goes through stdin: a command line is visible to every local user.
    if user in users:
        rabbitmqctl("change_password", user, stdin=password + "\n", servers=servers)
    else:
        rabbitmqctl("add_user", user, stdin=password + "\n", servers=servers)
    rabbitmqctl(
        "set_permissions", "-p", vhost, user, grant.configure, grant.write, grant.read,
        servers=servers,
    )  # fmt: skip


def drop_rabbitmq(vhost: str | None, users: list[str], *, servers: Servers = SHARED) -> None:
    """Delete `vhost` (with every queue and exchange in it), then the broker `users`, if present."""
    vhosts = rabbitmqctl("list_vhosts", "name", servers=servers).split()
    if vhost is not None and vhost != "/" and vhost in vhosts:
        rabbitmqctl("delete_vhost", vhost, servers=servers)
    existing = {
        line.split("\t")[0] for line in rabbitmqctl("list_users", servers=servers).splitlines()
    }
    for user in users:
        if user in existing:
            rabbitmqctl("delete_user", user, servers=servers)
