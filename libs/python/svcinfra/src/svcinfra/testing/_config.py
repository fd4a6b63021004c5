"""A Config with every built-in section, and a complete environment for it, for tests and docs."""

from __future__ import annotations

from svcinfra.config import (
    AmqpSettings,
    Config,
    PostgresSettings,
    RedisSettings,
)


class FullConfig(Config):
    """A service that uses every built-in section; the repository's `.env.example` documents it."""

    postgres: PostgresSettings
    redis: RedisSettings
    amqp: AmqpSettings


def full_environ(
    prefix: str = "APP_",
    *,
    service: str = "app",
    secrets: dict[str, str] | None = None,
) -> dict[str, str]:
    """Return a valid environment for `FullConfig` pointing at the loopback servers.

    Args:
        prefix: the service's ENV_PREFIX.
        service: SERVICE_NAME.
        secrets: passwords by field (`postgres`, `redis`, `amqp`); test values by default. The
            loopback servers use trust auth (PostgreSQL), no auth (Redis) and guest (RabbitMQ),
            so any PostgreSQL and Redis password works there.
    """
    values = {"postgres": "pg-test-password", "redis": "", "amqp": "guest"} | (secrets or {})
    return {
        "ENV_PREFIX": prefix,
        "SERVICE_NAME": service,
        "ENV": "dev",
        "POSTGRES_HOST": "127.0.0.1",
        f"{prefix}POSTGRES_USER": "postgres",
        f"{prefix}POSTGRES_PASSWORD": values["postgres"],
        f"{prefix}POSTGRES_DB": "test",
        "REDIS_HOST": "127.0.0.1",
        f"{prefix}REDIS_PASSWORD": values["redis"],
        "RABBITMQ_HOST": "127.0.0.1",
        f"{prefix}RABBITMQ_USER": "guest",
        f"{prefix}RABBITMQ_PASSWORD": values["amqp"],
    }
