"""`Servers`: where the stack's PostgreSQL, Redis and RabbitMQ are, and how to administer them.

By default the machine's shared loopback servers (`scripts/infra.sh up`): PostgreSQL 5432 with
the `postgres` superuser on trust auth, Redis 6379, RabbitMQ 5672 administered with `rabbitmqctl`.
A test that takes servers down (the chaos run) points the stack at private instances instead:

    Servers(pg_port=pg.port, redis_port=cache.port, amqp_port=node.amqp_port,
            rabbitmqctl=("rabbitmqctl", "-n", node.name), rabbitmqctl_env={"HOME": ...})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, slots=True)
class Servers:
    """The addresses of the three servers on loopback and the broker's admin command."""

    host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_superuser: str = "postgres"
    redis_port: int = 6379
    amqp_port: int = 5672
    rabbitmqctl: tuple[str, ...] = ("rabbitmqctl",)
    rabbitmqctl_env: Mapping[str, str] = field(default_factory=dict)

    @property
    def pg_admin_dsn(self) -> str:
        """The superuser's URL of the `postgres` database (trust auth on loopback)."""
        return f"postgresql://{self.pg_superuser}@{self.host}:{self.pg_port}/postgres"


SHARED = Servers()
