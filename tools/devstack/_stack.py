"""`Stack`: the services of the repository running together on the local servers.

One implementation behind `make run`, `make demo`, the cross-service tests and the benchmarks.
The services and their processes are the plan's (`_plan.py`, read from the service folders):
the reference ones and every service `svcinfra new service` generated.
`start` provisions the accounts (CF-4), runs the migrations, starts the processes in two waves
(the second after the first is ready: the consumer binds to an exchange the users relay
declares) and waits for every `/health/readyz`; `stop` stops them in order with SIGTERM, then
SIGKILL after a grace period, and for a run with a run id drops everything it created.
"""

from __future__ import annotations

import contextlib
import re
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Self
from urllib.parse import quote

from svcinfra.testing import free_port

from ._plan import (
    DOUBLE,
    REPO,
    ROLES,
    RUN_DIR,
    SERVICES,
    SHUTDOWN_TIMEOUT,
    STOP_ORDER,
    Names,
    Ports,
    Role,
    Service,
    secret_names,
)
from ._process import Process, ProcessError, environment
from ._provision import (
    AMQP_ADMIN,
    ProvisionError,
    drop_postgres,
    drop_rabbitmq,
    ensure_postgres,
    ensure_rabbitmq_user,
    ensure_vhost,
)
from ._secrets import Secrets
from ._servers import Servers

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterator, Mapping
    from types import TracebackType

_MIGRATE_TIMEOUT = 120.0
_REFERENCE = ("users", "notifications", DOUBLE)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _command(service: Service, *args: str) -> tuple[list[str], dict[str, str]]:
    """The command line of `service <args>`, and the variables it needs to run.

    Its console script when the virtualenv has it (`make venv` installs every service);
    otherwise `python -m <package>` with the service's `src/` on PYTHONPATH (a service just
    generated, before `make venv`).
    """
    script = Path(sys.executable).parent / service.name
    if script.exists():
        return [str(script), *args], {}
    if not (service.folder / "src" / service.package / "__main__.py").is_file():
        raise ProcessError(f"{script} is missing: run `make venv`")
    return [sys.executable, "-m", service.package, *args], {
        "PYTHONPATH": str(service.folder / "src")
    }


def _select(names: Collection[str] | None) -> dict[str, Service]:
    """The services to run: `names` (every one if None), and the double if one calls an API."""
    if names is None:
        return dict(SERVICES)
    unknown = set(names) - set(SERVICES)
    if unknown:
        raise ValueError(f"unknown services {sorted(unknown)}; services: {sorted(SERVICES)}")
    chosen = set(names)
    if any(SERVICES[name].external_apis for name in chosen):
        chosen.add(DOUBLE)
    return {name: service for name, service in SERVICES.items() if name in chosen}


@dataclass
class Stack:
    """The processes of the repository's services, with their accounts and logs.

        with Stack(run_id="t1a2b3", ports=Ports.free(), log_dir=tmp) as stack:
            httpx.post(f"{stack.users_api_url}/api/v1/users", json=...)
            stack.kill("notifications-consumer")
            stack.restart("notifications-consumer")

    Args:
        run_id: suffix of every database, role, vhost and broker user; the stack drops them
            on `stop`. None: the fixed names of `make run`, kept between runs, with the
            secrets in `.run/secrets.env`.
        ports: ports of the first replicas (extra replicas get free ports).
        replicas: how many processes of a role (`users-api`, `users-relay`,
            `notifications-consumer`, `<service>-api`, ...) to run; one by default.
        log_dir: where `<process>.log` files go; default `.run/logs` (or `.run/<run_id>/logs`).
        env: extra variables by role, over the generated ones (e.g. a proxy's port).
        keep: leave a run id's databases and users in place on `stop` (for debugging).
        secrets_file: keep the secrets in this file (created at mode 0600 if missing); default
            `.run/secrets.env` without a run id, in memory only with one.
        on_step: called with a short line as each start step begins (the CLI prints them).
        servers: the PostgreSQL, Redis and RabbitMQ to run on (default: the shared loopback ones).
        services: run only these services (`users`, `demo-notes`, ...), and fake-mail when one
            of them calls an external API; None: every service of the repository.
    """

    run_id: str | None = None
    ports: Ports = field(default_factory=Ports)
    replicas: Mapping[str, int] = field(default_factory=dict)
    log_dir: Path | None = None
    env: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    keep: bool = False
    secrets_file: Path | None = None
    on_step: Callable[[str], None] | None = field(default=None, repr=False)
    servers: Servers = field(default_factory=Servers)
    services: Collection[str] | None = None
    names: Names = field(init=False)
    secrets: Secrets = field(init=False, repr=False)
    processes: dict[str, Process] = field(init=False, default_factory=dict, repr=False)
    _roles: dict[str, Role] = field(init=False, default_factory=dict, repr=False)
    _plan: dict[str, Service] = field(init=False, default_factory=dict, repr=False)
    _provisioned: bool = field(init=False, default=False, repr=False)

    def __post_init__(self) -> None:
        self.names = Names.for_run(self.run_id)
        self._plan = _select(self.services)
        roles = {name: role for name, role in ROLES.items() if role.service in self._plan}
        unknown = set(self.replicas) - set(roles)
        if unknown:
            raise ValueError(f"unknown roles {sorted(unknown)}; roles: {sorted(roles)}")
        if self.run_id is None:
            self.secrets_file = self.secrets_file or RUN_DIR / "secrets.env"
            self.log_dir = self.log_dir or RUN_DIR / "logs"
        else:
            self.log_dir = self.log_dir or RUN_DIR / self.run_id / "logs"
        names = secret_names(self._plan.values())
        if self.secrets_file is None:
            self.secrets = Secrets.generate(names)
        else:
            self.secrets = Secrets.load_or_create(self.secrets_file, names)
        for role in roles.values():
            for index in range(self.replicas.get(role.name, 1)):
                self._add(role, index)

    def start(self, *, timeout: float = 60.0) -> None:
        """Provision, migrate, start every process and wait until all are ready.

        On a failure everything already started is stopped (and a run id's accounts dropped)
        before the error propagates.
        """
        try:
            self._check_ports()
            self._step(f"provisioning databases and broker users ({self.names.vhost} vhost)")
            self.provision_postgres()
            # The broker users are made while the migrations run: each `rabbitmqctl` takes
            # seconds to start, the migrations need only the databases.
            with ThreadPoolExecutor(max_workers=1) as pool:
                broker = pool.submit(self.provision_broker)
                self._step("running migrations")
                try:
                    self.migrate()
                finally:
                    wait([broker])
                broker.result()
            for process in self._all():  # a new run starts new logs; a restart appends
                process.log_path.unlink(missing_ok=True)
            for wave in sorted({self._role(p).wave for p in self._all()}):
                members = [p for p in self._all() if self._role(p).wave == wave]
                self._step("starting " + ", ".join(p.name for p in members))
                for process in members:
                    process.start()
                for process in members:
                    process.wait_ready(timeout)
        except BaseException:
            # The error that stopped the start matters more than one in cleaning up after it.
            with contextlib.suppress(ProcessError, ProvisionError):
                self.stop()
            raise

    def stop(self) -> dict[str, int | None]:
        """Stop every process in order (SIGTERM, then SIGKILL); drop a run id's accounts.

        Returns:
            The exit status of every process by name.
        """
        statuses: dict[str, int | None] = {}
        waves = [[p for p in self._all() if self._role(p).name in wave] for wave in STOP_ORDER]
        for wave in waves:
            for process in wave:
                process.send_signal(signal.SIGTERM)
            for process in wave:
                statuses[process.name] = process.wait()
        if self.run_id is not None and self._provisioned and not self.keep:
            self.teardown()
        return statuses

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def provision(self) -> None:
        """Create (or update) the roles, databases, vhost and broker users of the stack."""
        self.provision_postgres()
        self.provision_broker()

    def provision_postgres(self) -> None:
        """Create (or update) every service's role and database (SCRAM verifier, PG-12)."""
        names, secrets, servers = self.names, self.secrets, self.servers
        self._provisioned = True
        for service in self._plan.values():
            if service.postgres:
                database = names.database(service)
                password = secrets[f"{service.prefix}POSTGRES_PASSWORD"]
                ensure_postgres(database, database, password, servers=servers)

    def provision_broker(self) -> None:
        """Create the stack's vhost and (or update) every service's broker user (CF-4)."""
        names, secrets, servers = self.names, self.secrets, self.servers
        self._provisioned = True
        ensure_vhost(names.vhost, servers=servers)
        for service in self._plan.values():
            if service.rabbitmq:
                ensure_rabbitmq_user(
                    names.amqp_user(service),
                    secrets[f"{service.prefix}RABBITMQ_PASSWORD"],
                    names.vhost,
                    service.grant(),
                    servers=servers,
                )

    def teardown(self) -> None:
        """Drop the databases, roles, vhost and broker users (of a run id only)."""
        if self.run_id is None:
            raise RuntimeError("the `make run` stack keeps its data; drop it by hand if needed")
        names, servers = self.names, self.servers
        for service in self._plan.values():
            if service.postgres:
                drop_postgres(names.database(service), names.database(service), servers=servers)
        users = [names.amqp_user(s) for s in self._plan.values() if s.rabbitmq]
        drop_rabbitmq(names.vhost, users, servers=servers)
        self._provisioned = False

    def migrate(self) -> None:
        """Run `<service> migrate up` of every service with migrations, side by side."""
        assert self.log_dir is not None  # noqa: S101  (set in __post_init__)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        running = []
        for service in (s.name for s in self._plan.values() if "migrate" in s.commands):
            log_path = self.log_dir / f"migrate-{service}.log"
            argv, extra = _command(self._plan[service], "migrate", "up")
            with log_path.open("wb") as log:
                popen = subprocess.Popen(  # noqa: S603  (the service's own console script)
                    argv,
                    env=environment(self.service_env(service) | extra),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            running.append((service, popen, log_path))
        for service, popen, log_path in running:
            try:
                status = popen.wait(timeout=_MIGRATE_TIMEOUT)
            except subprocess.TimeoutExpired:
                popen.kill()
                popen.wait()
                status = None
            if status != 0:
                tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-30:])
                raise ProcessError(f"`{service} migrate up` failed ({status}):\n{tail}")

    def process(self, name: str) -> Process:
        """The process called `name` (`users-api`, `users-api-2`, ...)."""
        try:
            return self.processes[name]
        except KeyError:
            raise KeyError(f"no process {name!r}; processes: {sorted(self.processes)}") from None

    def replicas_of(self, role: str) -> list[Process]:
        """Every process of `role`, first replica first."""
        return [p for p in self._all() if self._role(p).name == role]

    def kill(self, name: str) -> int | None:
        """SIGKILL the process `name` (a crash); return its exit status."""
        return self.process(name).kill()

    def restart(self, name: str, *, timeout: float = 60.0) -> None:
        """Stop the process `name` if it runs, start it again and wait until it is ready."""
        self.process(name).restart(timeout=timeout)

    def spawn(
        self,
        role: str,
        name: str,
        *,
        env: Mapping[str, str] | None = None,
        timeout: float = 60.0,
        wait: bool = True,
    ) -> Process:
        """Start one more process of `role`, on free ports, with `env` over its variables.

        It belongs to the stack from then on (stopped with it); `discard` stops it earlier.
        """
        if name in self.processes:
            raise ValueError(f"a process {name!r} exists already")
        process = self._add(ROLES[role], None, name=name, extra=env or {})
        process.start()
        if wait:
            process.wait_ready(timeout)
        return process

    def discard(self, name: str) -> int | None:
        """Stop the process `name` and forget it; return its exit status."""
        status = self.process(name).stop()
        del self.processes[name], self._roles[name]
        return status

    def service_env(self, service: str) -> dict[str, str]:
        """The variables of `service` (`users`, `notifications`, `fake-mail`, ...), ports aside.

        Its `.env.example` says what it needs: its own database and role on the stack's
        PostgreSQL, Redis, its broker user on the stack's vhost, and for every external API it
        calls (`<PREFIX><NAME>_API_BASE_URL`) fake-mail, the stack's double, and its key.
        """
        names, secrets, servers = self.names, self.secrets, self.servers
        plan = self._plan[service]
        prefix = plan.prefix
        env = {
            "ENV": "dev",
            "LOG_LEVEL": "INFO",
            "HTTP_HOST": "127.0.0.1",
            "SHUTDOWN_TIMEOUT": str(SHUTDOWN_TIMEOUT),
            # No load balancer routes to the dev stack: a stop need not wait for one (issue 17;
            # a rolling restart through a proxy sets it, tests/e2e/test_rolling_restart.py).
            "HTTP_DRAIN_DELAY": "0",
            "SERVICE_NAME": service,
            "ENV_PREFIX": prefix,  # its credentials are read only under its prefix (CF-4)
        }
        if service == DOUBLE:
            env[f"{prefix}API_KEY"] = secrets[f"{prefix}API_KEY"]
        if plan.postgres:
            env |= {
                f"{prefix}POSTGRES_HOST": servers.host,
                f"{prefix}POSTGRES_PORT": str(servers.pg_port),
                f"{prefix}POSTGRES_USER": names.database(plan),
                f"{prefix}POSTGRES_PASSWORD": secrets[f"{prefix}POSTGRES_PASSWORD"],
                f"{prefix}POSTGRES_DB": names.database(plan),
                f"{prefix}POSTGRES_SSLMODE": "disable",
            }
        if plan.rabbitmq:
            env |= {
                f"{prefix}RABBITMQ_HOST": servers.host,
                f"{prefix}RABBITMQ_PORT": str(servers.amqp_port),
                f"{prefix}RABBITMQ_USER": names.amqp_user(plan),
                f"{prefix}RABBITMQ_PASSWORD": secrets[f"{prefix}RABBITMQ_PASSWORD"],
                f"{prefix}RABBITMQ_VHOST": names.vhost,
            }
        if plan.redis:
            env |= {
                f"{prefix}REDIS_HOST": servers.host,
                f"{prefix}REDIS_PORT": str(servers.redis_port),
            }
        double = self._plan[DOUBLE]
        for api in plan.external_apis:
            env |= {
                f"{api}BASE_URL": f"http://127.0.0.1:{self.ports.fake_mail_api}",
                f"{api}API_KEY": secrets[f"{double.prefix}API_KEY"],
            }
        return env

    @property
    def users_api_url(self) -> str:
        """Base URL of the (first) users API."""
        return self.process("users-api").api_url

    @property
    def fake_mail_url(self) -> str:
        """Base URL of the fake-mail API."""
        return self.process("fake-mail").api_url

    @property
    def fake_mail_headers(self) -> dict[str, str]:
        """The bearer header every fake-mail call needs."""
        return {"Authorization": f"Bearer {self.secrets['FAKE_MAIL_API_KEY']}"}

    @property
    def amqp_admin_url(self) -> str:
        """AMQP URL of the admin user (guest) on the stack's vhost, for tests and the demo."""
        user, password = AMQP_ADMIN
        host, port, vhost = self.servers.host, self.servers.amqp_port, self.names.vhost
        return f"amqp://{user}:{password}@{host}:{port}/{quote(vhost, safe='')}"

    def secret_values(self) -> list[str]:
        """Every generated secret, to look for in output that must not contain them."""
        return list(self.secrets)

    def summary(self) -> str:
        """The URLs of every process and a curl example (no secret in it)."""
        lines = ["svcinfra stack is ready:"]
        for process in self._all():
            api = f"  api {process.api_url}" if process.api_port is not None else ""
            lines.append(f"  {process.name:<24} pid {process.pid:<7} tech {process.tech_url}{api}")
        lines += ["", "try:"]
        if "users-api" in self.processes:
            users = self.users_api_url
            lines += [
                f"  curl -s -X POST {users}/api/v1/users -H 'content-type: application/json' \\",
                '    -d \'{"email": "ada@example.com", "username": "ada", "display_name": "Ada"}\'',
                f"  curl -s {users}/api/v1/users/<id>",
            ]
        if DOUBLE in self.processes:
            key = "<FAKE_MAIL_API_KEY: in memory only for this run>"
            if self.secrets_file is not None:
                where = self.secrets_file.resolve()
                shown = where.relative_to(REPO) if where.is_relative_to(REPO) else where
                key = f"$(grep ^FAKE_MAIL_API_KEY= {shown} | cut -d= -f2-)"
            lines.append(
                f'  curl -s -H "Authorization: Bearer {key}" {self.fake_mail_url}/v1/messages'
            )
        if "users-api" in self.processes:
            lines.append(f"  curl -s {self.process('users-api').tech_url}/metrics")
        # Every other API: its readiness (its own endpoints are in its README and OpenAPI).
        lines += [
            f"  curl -s {p.tech_url}/health/readyz  # {self._role(p).service}: api {p.api_url}"
            for p in self._all()
            if self._role(p).service not in _REFERENCE and p.api_port is not None
        ]
        lines.append(f"logs: {self.log_dir}/<process>.log (JSON lines)")
        return "\n".join(lines)

    def _step(self, line: str) -> None:
        if self.on_step is not None:
            self.on_step(line)

    def _all(self) -> Iterator[Process]:
        return iter(list(self.processes.values()))

    def _role(self, process: Process) -> Role:
        return self._roles[process.name]

    def _add(
        self,
        role: Role,
        index: int | None,
        *,
        name: str | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Process:
        if index == 0:
            tech, api = self.ports.first(role)
        else:
            tech, api = free_port(), (free_port() if role.api else None)
        if name is None:
            name = role.name if index == 0 else f"{role.name}-{(index or 0) + 1}"
        env = self.service_env(role.service) | {"TECH_PORT": str(tech)}
        # A process without an API still gets a port of its own: nothing may default to 8080.
        env["API_PORT"] = str(api if api is not None else free_port())
        env |= dict(self.env.get(role.name, {})) | dict(extra or {})
        self._check_env_example(role.service, env)
        argv, run_env = _command(self._plan[role.service], *role.command[1:])
        assert self.log_dir is not None  # noqa: S101  (set in __post_init__)
        process = Process(
            name=name,
            argv=tuple(argv),
            env=environment(env | run_env),
            log_path=self.log_dir / f"{name}.log",
            tech_port=tech,
            api_port=api,
        )
        self.processes[name] = process
        self._roles[name] = role
        return process

    def _check_ports(self) -> None:
        busy = [
            f"{p.name}: {port}"
            for p in self._all()
            for port in (p.tech_port, p.api_port)
            if port is not None and _listening(port)
        ]
        if busy:
            raise ProcessError(
                "ports in use (is `make run` running already?): " + ", ".join(busy),
            )

    def _check_env_example(self, service: str, env: Mapping[str, str]) -> None:
        """Fail on a variable the service's generated `.env.example` does not know."""
        example = self._plan[service].folder / ".env.example"
        if not example.exists():
            return
        known = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example.read_text(), re.MULTILINE))
        unknown = sorted(set(env) - known - {"API_PORT", "TECH_PORT", "ENV_PREFIX"})
        if unknown:
            raise ProcessError(f"{example} does not list {unknown}: the launcher is out of date")
