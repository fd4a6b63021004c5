"""The users service's one configuration, read from the environment at start-up (CF-1, CF-6).

With `ENV_PREFIX=USERS_` the credentials are `USERS_POSTGRES_*`, `USERS_REDIS_*` and
`USERS_AMQP_*`, so that another service's variables in the same cluster are never read (CF-4).
`.env.example` beside the pyproject lists every variable (`svcinfra env example users`).
"""

from svcinfra.config import AmqpSettings, Config, PostgresSettings, RedisSettings
from svcinfra.messaging.outbox import RelaySettings


class UsersConfig(Config):
    """Every setting of the users service: its database, its cache, its broker, its relay."""

    postgres: PostgresSettings
    redis: RedisSettings
    amqp: AmqpSettings
    outbox_relay: RelaySettings
