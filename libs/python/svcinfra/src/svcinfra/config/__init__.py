"""Env-prefixed, fail-fast, masked configuration (CF-1, CF-3, CF-4, CF-6).

A service declares one `Config` made of `Section`s and loads it once at start-up:

    class UsersConfig(Config):
        postgres: PostgresSettings

    config = load_config(UsersConfig)      # ConfigError lists every problem, never a value
    log.info("config", **config.safe_dump())

With `ENV_PREFIX=USERS_`, `PostgresSettings` reads `USERS_POSTGRES_USER`, `USERS_POSTGRES_PASSWORD`,
`USERS_POSTGRES_DB`; host and port may fall back to the cluster-wide `POSTGRES_HOST` and
`POSTGRES_PORT`. A secret (typed `SecretStr`) is read only under `ENV_PREFIX`, whatever its
section's `prefixed` says, and never falls back (CF-4).
"""

from ._config import ENV_PREFIX, Config, load_config
from ._env_example import render_env_example
from ._errors import ConfigDefinitionError, ConfigError, ConfigProblem, SettingError
from ._naming import MASK, looks_secret, mask_url_credentials
from ._section import Env, NotSecret, Section, Variable
from ._sections import (
    AmqpSettings,
    Environment,
    HttpServerSettings,
    ObservabilitySettings,
    PostgresSettings,
    RedisSettings,
    ServiceSettings,
    host_list,
    join_hosts,
)
from ._tls import TlsClient, TlsNames, client_context, explain_tls_failure

__all__ = [
    "ENV_PREFIX",
    "MASK",
    "AmqpSettings",
    "Config",
    "ConfigDefinitionError",
    "ConfigError",
    "ConfigProblem",
    "Env",
    "Environment",
    "HttpServerSettings",
    "NotSecret",
    "ObservabilitySettings",
    "PostgresSettings",
    "RedisSettings",
    "Section",
    "ServiceSettings",
    "SettingError",
    "TlsClient",
    "TlsNames",
    "Variable",
    "client_context",
    "explain_tls_failure",
    "host_list",
    "join_hosts",
    "load_config",
    "looks_secret",
    "mask_url_credentials",
    "render_env_example",
]
