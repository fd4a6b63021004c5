"""The users service's one Config."""

from svcinfra.config import Config, PostgresSettings


class UsersConfig(Config):
    """Every setting of the users service."""

    postgres: PostgresSettings
