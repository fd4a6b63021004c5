"""Per-service accounts on the stack's servers, through `svcinfra.provision` (issue 17).

The same code as the deploy manifests' init containers (`svcinfra provision postgres|rabbitmq`):
each service's role owns its own database (PG-12) and gets a SCRAM-SHA-256 verifier, never the
password; each broker user gets a salted hash and the permissions its AsyncAPI contract implies
(`grant_for_contract`, CF-4). Only the transport to the broker differs: the local servers run
no management plugin, so the definitions document goes through `rabbitmqctl import_definitions`
(the same importer on the broker as the management API's `POST /api/definitions`).

The admin side uses what the development servers provide on loopback: the `postgres` superuser
(trust auth) and `rabbitmqctl` (root, or a user that can read the Erlang cookie); by default on
the shared servers, or on the private ones a `Servers` names. The vhost is the stack's own
(per run id): in a cluster the platform creates it.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, TypeVar

from svcinfra import provision
from svcinfra.provision import Grant, ProvisionError, Rabbitmqctl, scram_verifier

from ._servers import SHARED, Servers

if TYPE_CHECKING:
    from collections.abc import Coroutine

__all__ = [
    "AMQP_ADMIN",
    "PG_ADMIN_DSN",
    "Grant",
    "ProvisionError",
    "drop_postgres",
    "drop_rabbitmq",
    "ensure_postgres",
    "ensure_rabbitmq_user",
    "ensure_vhost",
    "rabbitmqctl",
    "run_async",
    "scram_verifier",
]

PG_HOST, PG_PORT = SHARED.host, SHARED.pg_port
PG_ADMIN_DSN = SHARED.pg_admin_dsn
AMQP_ADMIN = ("guest", "guest")
T = TypeVar("T")


def run_async(coro: Coroutine[object, object, T]) -> T:
    """Run `coro` to completion in a fresh event loop on a worker thread.

    Safe to call from synchronous code whether or not the calling thread runs an event loop.
    """
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def broker_admin(servers: Servers = SHARED) -> Rabbitmqctl:
    """The `rabbitmqctl` of `servers`, as a `svcinfra.provision` broker admin."""
    return Rabbitmqctl(servers.rabbitmqctl, servers.rabbitmqctl_env)


def ensure_postgres(role: str, db: str, password: str, *, servers: Servers = SHARED) -> None:
    """Create (or update) `role` with `password` (as a verifier), and `db` owned by it."""
    run_async(provision.ensure_postgres(role, db, password, dsn=servers.pg_admin_dsn))


def drop_postgres(role: str, db: str, *, servers: Servers = SHARED) -> None:
    """Drop `db` (closing its connections) and `role`."""
    run_async(provision.drop_postgres(role, db, dsn=servers.pg_admin_dsn))


def rabbitmqctl(*args: str, stdin: str | None = None, servers: Servers = SHARED) -> str:
    """Run `rabbitmqctl --silent <args>` (the command of `servers`) and return its output."""
    return broker_admin(servers).run(*args, stdin=stdin)


def ensure_vhost(vhost: str, *, servers: Servers = SHARED) -> None:
    """Create `vhost` if missing and give the admin user (guest) every permission on it."""
    if vhost not in rabbitmqctl("list_vhosts", "name", servers=servers).split():
        rabbitmqctl("add_vhost", vhost, servers=servers)
    rabbitmqctl("set_permissions", "-p", vhost, AMQP_ADMIN[0], ".*", ".*", ".*", servers=servers)


def ensure_rabbitmq_user(
    user: str, password: str, vhost: str, grant: Grant, *, servers: Servers = SHARED
) -> None:
    """Create (or update) the broker `user` (a password hash) with `grant` on `vhost`."""
    document = provision.broker_definitions(user, password, vhost, grant)
    provision.apply_definitions(broker_admin(servers), document)


def drop_rabbitmq(vhost: str | None, users: list[str], *, servers: Servers = SHARED) -> None:
    """Delete `vhost` (with every queue and exchange in it), then the broker `users`, if present."""
    vhosts = rabbitmqctl("list_vhosts", "name", servers=servers).split()
    if vhost is not None and vhost != "/" and vhost in vhosts:
        rabbitmqctl("delete_vhost", vhost, servers=servers)
    existing = broker_admin(servers).users()
    for user in users:
        if user in existing:
            rabbitmqctl("delete_user", user, servers=servers)
