"""`svcinfra provision`: the init containers' commands (deploy/*.yaml), from the environment.

Values come from the environment only (the pod's ConfigMaps and Secrets), never from the command
line, and no value is printed. Where the admin's credentials are absent (a platform that
provisions accounts itself) each command says so and succeeds.

    svcinfra provision postgres                     # ${ENV_PREFIX}POSTGRES_USER/_PASSWORD/_DB
    svcinfra provision rabbitmq --contract users    # ${ENV_PREFIX}RABBITMQ_USER/_PASSWORD/_VHOST
    svcinfra provision grant --contract users       # the derived permissions, as JSON

A service that runs with a topology prefix passes it (`--topology-prefix
"$(CONSUMER_TOPOLOGY_PREFIX)"`: Kubernetes expands the variable in the arguments).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import cast
from urllib.parse import urlencode

import click

from svcinfra.config import host_list, join_hosts
from svcinfra.messaging.contract import Contract, load_contract, load_package_contract

from ._errors import ProvisionError
from ._grants import Grant, grant_for_contract
from ._postgres import SSL_MODES, SslMode, ensure_postgres
from ._rabbitmq import ManagementApi, apply_definitions, broker_definitions

_CONTRACT_HELP = "the service's AsyncAPI contract: a package (users) or a file path"
_PREFIX_HELP = "the service's topology prefix (its CONSUMER_TOPOLOGY_PREFIX); empty: none"


def _contract(target: str) -> Contract:
    if target.endswith((".yaml", ".yml", ".json")) or os.sep in target:
        return load_contract(Path(target))
    return load_package_contract(target)


def _service_values(kind: str, names: tuple[str, ...]) -> list[str]:
    """`${ENV_PREFIX}<name>` for each of `names`; exit 1 naming them when one is missing."""
    prefix = os.environ.get("ENV_PREFIX", "")
    values = [os.environ.get(prefix + name, "") for name in names]
    if not all(values):
        first, *rest = names
        listed = ", ".join([prefix + first, *("_" + n.rsplit("_", 1)[1] for n in rest)])
        raise click.ClickException(f"{kind}: {listed} must all be set")
    return values


@click.group()
def provision() -> None:
    """Create or update a service's own accounts (CF-4, PG-12): what the init containers run."""


@provision.command("postgres")
def provision_postgres() -> None:
    """As the admin, the service's role (SCRAM verifier) and its own database."""
    admin, admin_password = os.environ.get("POSTGRES_USER"), os.environ.get("POSTGRES_PASSWORD")
    if not admin or not admin_password:
        click.echo("create-db: no admin credentials here; the role and database are provisioned "
                   "elsewhere")  # fmt: skip
        return
    user, password, database = _service_values(
        "create-db", ("POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB")
    )
    env = os.environ
    host, port = env.get("POSTGRES_HOST", "127.0.0.1"), env.get("POSTGRES_PORT", "5432")
    maintenance = env.get("POSTGRES_MAINT_DB", "postgres")
    sslmode = env.get("POSTGRES_SSLMODE") or None
    if sslmode is not None and sslmode not in SSL_MODES:
        raise click.ClickException(
            f"create-db: POSTGRES_SSLMODE {sslmode!r} is not one of {SSL_MODES}"
        )
    # verify-full against the CA the services use, and their client certificate if any (docs/tls.md)
    files = {
        "sslrootcert": env.get("POSTGRES_CA_FILE"),
        "sslcert": env.get("POSTGRES_CERT_FILE"),
        "sslkey": env.get("POSTGRES_KEY_FILE"),
    }
    params = {name: path for name, path in files.items() if path}
    try:
        addresses = host_list(host, int(port))
    except ValueError as exc:
        raise click.ClickException(f"create-db: POSTGRES_HOST / POSTGRES_PORT: {exc}") from exc
    if len(addresses) > 1:  # a primary and its standbys (issue 20): create on the primary
        params["target_session_attrs"] = "read-write"
    query = urlencode(params)
    dsn = f"postgresql://{admin}@{join_hosts(addresses)}/{maintenance}" + (
        f"?{query}" if query else ""
    )
    try:
        asyncio.run(
            ensure_postgres(
                user,
                database,
                password,
                dsn=dsn,
                admin_password=admin_password,
                ssl=cast("SslMode | None", sslmode),
            )
        )
    except ProvisionError as exc:
        raise click.ClickException(f"create-db: {exc}") from exc
    click.echo(f"create-db: role {user} and database {database} are ready")


@provision.command("rabbitmq")
@click.option("--contract", "target", required=True, help=_CONTRACT_HELP)
@click.option("--topology-prefix", "prefix", default="", help=_PREFIX_HELP)
def provision_rabbitmq(target: str, prefix: str) -> None:
    """As the broker admin, the service's user with the permissions its contract needs."""
    env = os.environ
    admin, admin_password = env.get("RABBITMQ_ADMIN_USER"), env.get("RABBITMQ_ADMIN_PASSWORD")
    if not admin or not admin_password:
        click.echo("create-rabbitmq-user: no admin credentials here; the user is provisioned "
                   "elsewhere")  # fmt: skip
        return
    user, password = _service_values("create-rabbitmq-user", ("RABBITMQ_USER", "RABBITMQ_PASSWORD"))
    vhost = env.get(env.get("ENV_PREFIX", "") + "RABBITMQ_VHOST") or "/"
    port = int(env["RABBITMQ_MANAGEMENT_PORT"])
    grant = grant_for_contract(_contract(target), prefix=prefix)
    try:
        document = broker_definitions(user, password, vhost, grant)
    except ProvisionError as exc:
        raise click.ClickException(f"create-rabbitmq-user: {exc}") from exc
    # Users and permissions are cluster-wide: the first node of a host list that answers will do
    # (issue 20); the management port is the same on every node.
    nodes = [join_hosts(((node, port),)) for node, _ in host_list(env["RABBITMQ_HOST"], 5672)]
    for n, node in enumerate(nodes, start=1):
        try:
            apply_definitions(ManagementApi(f"http://{node}/api", admin, admin_password), document)
            break
        except ProvisionError as exc:
            if n == len(nodes):
                raise click.ClickException(f"create-rabbitmq-user: {exc}") from exc
            click.echo(f"create-rabbitmq-user: {node}: {exc}; trying the next node")
    click.echo(f"create-rabbitmq-user: user {user} is ready on vhost {vhost}: {_describe(grant)}")


@provision.command("grant")
@click.option("--contract", "target", required=True, help=_CONTRACT_HELP)
@click.option("--topology-prefix", "prefix", default="", help=_PREFIX_HELP)
def provision_grant(target: str, prefix: str) -> None:
    """Print the permissions derived from a contract (configure, write, read), as JSON."""
    grant = grant_for_contract(_contract(target), prefix=prefix)
    click.echo(json.dumps(asdict(grant), indent=2))


def _describe(grant: Grant) -> str:
    return f"configure {grant.configure!r}, write {grant.write!r}, read {grant.read!r}"
