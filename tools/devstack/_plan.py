"""The plan of the stack: its services, processes, ports, names on the servers and permissions.

The plan is read from the repository, not written here: every `services/<kind>/<name>/` folder
with a `pyproject.toml` is a service of the stack (the reference ones and every service
`svcinfra new service` generates). Its `pyproject.toml` gives its console script, its
credentials' prefix (`[tool.svcinfra] env-prefix`) and its process commands (`[tool.svcinfra.image]
commands`, the ones its Dockerfile and deploy manifests run); its generated `.env.example` says
which servers it uses (`<PREFIX>POSTGRES_HOST`, `<PREFIX>REDIS_HOST`, `<PREFIX>RABBITMQ_HOST`)
and which external APIs it calls (`<PREFIX><NAME>_API_BASE_URL`); its AsyncAPI contract
(`src/<package>/api/server/asyncapi.yaml`) gives its broker user's permissions (CF-4).

Each command is a process: `serve` the API (`<name>-api`), `relay` the outbox relay
(`<name>-relay`), `consume` the consumer (`<name>-consumer`, started once the relays have
declared their exchanges); `migrate` runs before any of them. fake-mail, the dev double of the
external APIs, keeps its short name `fake-mail`.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING

from svcinfra.messaging.contract import load_contract
from svcinfra.provision import Grant, grant_for_contract
from svcinfra.testing import free_port

from ._servers import SHARED

if TYPE_CHECKING:
    from collections.abc import Iterable

REPO = Path(__file__).resolve().parents[2]
RUN_DIR = REPO / ".run"
REDIS_HOST, REDIS_PORT = SHARED.host, SHARED.redis_port
AMQP_HOST, AMQP_PORT = SHARED.host, SHARED.amqp_port
SHUTDOWN_TIMEOUT = 10.0
DOUBLE = "fake-mail"  # the stack's stand-in for every external API (`*_API_BASE_URL`)
OTHERS_FROM = 8100  # first port of the services beyond the reference ones
PORTS_PER_SERVICE = 10
CONTRACT = "api/server/asyncapi.yaml"
_ROLE_OF_COMMAND = {"serve": "api", "relay": "relay", "consume": "consumer"}
# The port of a process of a service beyond the reference ones: its block's start plus this.
_OFFSETS = {"api": (1, 0), "relay": (2, None), "consumer": (3, None)}
# The reference services' processes keep the ports the docs show (tech, API: fields of Ports).
_REFERENCE_PORTS: dict[str, tuple[str, str | None]] = {
    "users-api": ("users_tech", "users_api"),
    "users-relay": ("users_relay_tech", None),
    "notifications-consumer": ("notifications_consumer_tech", None),
    "notifications-relay": ("notifications_relay_tech", None),
    "fake-mail": ("fake_mail_tech", "fake_mail_api"),
}


@dataclass(frozen=True, slots=True)
class Service:
    """A service folder of the repository, as the stack runs it."""

    name: str
    package: str
    folder: Path
    prefix: str
    commands: tuple[str, ...]
    variables: frozenset[str]

    @property
    def postgres(self) -> bool:
        """Whether it has a database of its own (and migrations)."""
        return f"{self.prefix}POSTGRES_HOST" in self.variables

    @property
    def redis(self) -> bool:
        """Whether it uses Redis."""
        return f"{self.prefix}REDIS_HOST" in self.variables

    @property
    def rabbitmq(self) -> bool:
        """Whether it has a broker user (it publishes or consumes)."""
        return f"{self.prefix}RABBITMQ_HOST" in self.variables

    @property
    def external_apis(self) -> tuple[str, ...]:
        """The prefixes of the external APIs it calls (`<PREFIX>MAIL_API_`, ...)."""
        suffix = "BASE_URL"
        return tuple(
            sorted(
                v.removesuffix(suffix)
                for v in self.variables
                if v.startswith(self.prefix) and v.endswith(f"_API_{suffix}")
            )
        )

    @property
    def contract(self) -> Path:
        """Its AsyncAPI contract (it exists when the service publishes or consumes)."""
        return self.folder / "src" / self.package / CONTRACT

    def grant(self) -> Grant:
        """The broker permissions its contract implies (CF-4).

        Derived as the deploy init containers derive them (`svcinfra provision rabbitmq
        --contract`).
        """
        return grant_for_contract(load_contract(self.contract))

    @classmethod
    def read(cls, folder: Path) -> Service:
        """The service of `folder` (its `pyproject.toml` and `.env.example`)."""
        with (folder / "pyproject.toml").open("rb") as file:
            project = tomllib.load(file)
        (name, target), *_ = project["project"]["scripts"].items()
        tool = project.get("tool", {}).get("svcinfra", {})
        example = folder / ".env.example"
        text = example.read_text() if example.exists() else ""
        return cls(
            name=name,
            package=target.partition(".")[0].partition(":")[0],
            folder=folder,
            prefix=tool.get("env-prefix", name.replace("-", "_").upper() + "_"),
            commands=tuple(tool.get("image", {}).get("commands", ())),
            variables=frozenset(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", text, re.MULTILINE)),
        )


@dataclass(frozen=True, slots=True)
class Role:
    """A kind of process of the stack: which service, which command, which start wave."""

    name: str
    service: str
    command: tuple[str, ...]
    wave: int
    api: bool = False
    kind: str = "api"  # api, relay or consumer


def discover(repo: Path = REPO) -> dict[str, Service]:
    """Every service of `repo` by name: `services/*/*/` with a `pyproject.toml`, in path order."""
    services = {}
    for pyproject in sorted(repo.glob("services/*/*/pyproject.toml")):
        service = Service.read(pyproject.parent)
        services[service.name] = service
    return services


def roles_of(services: Iterable[Service]) -> dict[str, Role]:
    """The processes the services' commands make, by role name."""
    roles = {}
    for service in services:
        for command in service.commands:
            kind = _ROLE_OF_COMMAND.get(command)
            if kind is None:  # migrate: run before the processes, not one of them
                continue
            name = DOUBLE if service.name == DOUBLE else f"{service.name}-{kind}"
            wave = 1 if kind == "consumer" else 0  # it binds to exchanges the relays declare
            roles[name] = Role(
                name, service.name, (service.name, command), wave, api=kind == "api", kind=kind
            )
    return roles


def stop_order(roles: Iterable[Role]) -> tuple[tuple[str, ...], ...]:
    """The stop waves of `roles`, by role name.

    Entry points first; then the consumers and the relays of services without a consumer; last
    the relays of services with one (what a consumer writes while it drains still goes out) and
    fake-mail (a consumer may still be calling it).
    """
    roles = list(roles)
    consuming = {r.service for r in roles if r.kind == "consumer"}
    waves: tuple[list[str], list[str], list[str]] = ([], [], [])
    for role in roles:
        if role.service == DOUBLE or (role.kind == "relay" and role.service in consuming):
            waves[2].append(role.name)
        elif role.kind == "api":
            waves[0].append(role.name)
        else:
            waves[1].append(role.name)
    return tuple(tuple(wave) for wave in waves)


SERVICES = discover()
ROLES: dict[str, Role] = roles_of(SERVICES.values())
STOP_ORDER = stop_order(ROLES.values())
SERVICE_DIRS = {name: service.folder for name, service in SERVICES.items()}
# The services beyond the reference ones, in name order: each gets a block of ports.
OTHERS = tuple(sorted({r.service for r in ROLES.values() if r.name not in _REFERENCE_PORTS}))


@dataclass(frozen=True, slots=True)
class Ports:
    """Ports of the first replica of every process; `make run` uses the defaults.

    The reference services keep the ports the docs show; every other service gets a block of
    ten from `others_from` in name order (`others_from + 10 * i`: its API, its API's tech
    port, its relay's and its consumer's tech ports), or free ports when `others_from` is None.
    """

    users_api: int = 8080
    users_tech: int = 8081
    users_relay_tech: int = 8082
    notifications_consumer_tech: int = 8083
    notifications_relay_tech: int = 8084
    fake_mail_api: int = 8090
    fake_mail_tech: int = 8091
    others_from: int | None = OTHERS_FROM

    @classmethod
    def free(cls) -> Ports:
        """Ports the kernel reports free now (for test and benchmark runs)."""
        fixed = (f.name for f in fields(cls) if f.name != "others_from")
        return cls(**{name: free_port() for name in fixed}, others_from=None)

    def first(self, role: Role) -> tuple[int, int | None]:
        """The tech port and API port (None: no API) of the first process of `role`."""
        reference = _REFERENCE_PORTS.get(role.name)
        if reference is not None:
            tech, api = reference
            return getattr(self, tech), (getattr(self, api) if api is not None else None)
        if self.others_from is None:
            return free_port(), (free_port() if role.api else None)
        base = self.others_from + PORTS_PER_SERVICE * OTHERS.index(role.service)
        tech_offset, api_offset = _OFFSETS[role.kind]
        return base + tech_offset, (base + api_offset if api_offset is not None else None)


@dataclass(frozen=True, slots=True)
class Names:
    """Names of everything the stack creates on the servers, suffixed by the run id if any.

    Every service's database, role and broker user is named after its package (`users`,
    `demo_notes`, ... and `<package>_<run id>` for a run id); the fields name the reference
    services' ones.
    """

    users_db: str
    notifications_db: str
    vhost: str
    users_amqp_user: str
    notifications_amqp_user: str
    run_id: str | None = None

    @property
    def users_role(self) -> str:
        """The users service's PostgreSQL role (it owns its database, same name)."""
        return self.users_db

    @property
    def notifications_role(self) -> str:
        """The notifications service's PostgreSQL role."""
        return self.notifications_db

    def database(self, service: Service) -> str:
        """The database of `service`, and its role (which owns it)."""
        return service.package if self.run_id is None else f"{service.package}_{self.run_id}"

    def amqp_user(self, service: Service) -> str:
        """The broker user of `service`."""
        return self.database(service)

    @classmethod
    def for_run(cls, run_id: str | None) -> Names:
        """The fixed names of `make run`, or names unique to `run_id`."""
        if run_id is None:
            return cls("users", "notifications", "svcinfra", "users", "notifications")
        if not re.fullmatch(r"[a-z0-9]{1,40}", run_id):
            raise ValueError(f"a run id is 1-40 lowercase letters and digits, not {run_id!r}")
        return cls(
            f"users_{run_id}",
            f"notifications_{run_id}",
            f"svcinfra_{run_id}",
            f"users_{run_id}",
            f"notifications_{run_id}",
            run_id,
        )


def secret_names(services: Iterable[Service]) -> tuple[str, ...]:
    """The secrets the stack generates for `services`.

    A password per database role and broker user, and fake-mail's key (which the services
    calling an external API present).
    """
    names = []
    for service in services:
        if service.postgres:
            names.append(f"{service.prefix}POSTGRES_PASSWORD")
        if service.rabbitmq:
            names.append(f"{service.prefix}RABBITMQ_PASSWORD")
        if service.name == DOUBLE:
            names.append(f"{service.prefix}API_KEY")
    return tuple(names)
