"""The configuration of the fake `users` service."""

from svcinfra.config import Config, PostgresSettings, RedisSettings


class UsersConfig(Config):
    """A service with its own database and cache (CF-4: USERS_ prefix)."""

    postgres: PostgresSettings
    redis: RedisSettings
