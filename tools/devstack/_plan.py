"""The plan of the stack: its processes, ports, names on the servers and permissions."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from pathlib import Path

from svcinfra.messaging.contract import load_package_contract
from svcinfra.provision import grant_for_contract
from svcinfra.testing import free_port

from ._servers import SHARED

REPO = Path(__file__).resolve().parents[2]
RUN_DIR = REPO / ".run"
REDIS_HOST, REDIS_PORT = SHARED.host, SHARED.redis_port
AMQP_HOST, AMQP_PORT = SHARED.host, SHARED.amqp_port
SHUTDOWN_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Ports:
    """Ports of the first replica of every process; `make run` uses the defaults."""

    users_api: int = 8080
    users_tech: int = 8081
    users_relay_tech: int = 8082
    notifications_consumer_tech: int = 8083
    notifications_relay_tech: int = 8084
    fake_mail_api: int = 8090
    fake_mail_tech: int = 8091

    @classmethod
    def free(cls) -> Ports:
        """Ports the kernel reports free now (for test and benchmark runs)."""
        return cls(**{f.name: free_port() for f in fields(cls)})


@dataclass(frozen=True, slots=True)
class Names:
    """Names of everything the stack creates on the servers, suffixed by the run id if any."""

    users_db: str
    notifications_db: str
    vhost: str
    users_amqp_user: str
    notifications_amqp_user: str

    @property
    def users_role(self) -> str:
        """The users service's PostgreSQL role (it owns its database, same name)."""
        return self.users_db

    @property
    def notifications_role(self) -> str:
        """The notifications service's PostgreSQL role."""
        return self.notifications_db

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
        )


@dataclass(frozen=True, slots=True)
class Role:
    """A kind of process of the stack: which service, which command, which start wave."""

    name: str
    service: str
    command: tuple[str, ...]
    wave: int
    api: bool = False


ROLES: dict[str, Role] = {
    role.name: role
    for role in (
        Role("fake-mail", "fake-mail", ("fake-mail", "serve"), 0, api=True),
        Role("users-relay", "users", ("users", "relay"), 0),
        Role("notifications-relay", "notifications", ("notifications", "relay"), 0),
        Role("users-api", "users", ("users", "serve"), 0, api=True),
        Role("notifications-consumer", "notifications", ("notifications", "consume"), 1),
    )
}
# Entry points first; fake-mail last, the consumer may still be calling it while it drains.
STOP_ORDER = (
    ("users-api",),
    ("users-relay", "notifications-consumer"),
    ("notifications-relay", "fake-mail"),
)
SERVICE_DIRS = {
    "users": REPO / "services/internal/users",
    "notifications": REPO / "services/internal/notifications",
    "fake-mail": REPO / "services/dev/fake-mail",
}
# CF-4 on the broker: each user reaches exactly the exchanges and queues of its own contract,
# derived as the deploy init containers derive them (`svcinfra provision rabbitmq --contract`).
USERS_GRANT = grant_for_contract(load_package_contract("users"))
NOTIFICATIONS_GRANT = grant_for_contract(load_package_contract("notifications"))
