"""svcinfra.config: env-prefixed loading, one-pass validation, masking (CF-1, CF-3, CF-4, CF-6)."""

from __future__ import annotations

import json
from typing import Annotated

import pytest
from pydantic import Field, SecretStr

from svcinfra.config import (
    AmqpSettings,
    Config,
    ConfigDefinitionError,
    ConfigError,
    Env,
    Environment,
    PostgresSettings,
    RedisSettings,
    Section,
    load_config,
    looks_secret,
    mask_url_credentials,
)


class UsersConfig(Config):
    postgres: PostgresSettings
    redis: RedisSettings
    amqp: AmqpSettings


ADMIN_PASSWORD = "cluster-admin-pw-6b1f"  # noqa: S105  (a test value, not a credential)
PG_PASSWORD = "users-pg-pw-3c9d"  # noqa: S105
REDIS_PASSWORD = "users-redis-pw-77aa"  # noqa: S105
AMQP_PASSWORD = "users-amqp-pw-0e12"  # noqa: S105


def valid_env(prefix: str = "USERS_") -> dict[str, str]:
    """A complete environment for UsersConfig, as a ConfigMap and Secret would provide it."""
    return {
        "ENV_PREFIX": prefix,
        "SERVICE_NAME": "users",
        "ENV": "staging",
        "POSTGRES_HOST": "pg.internal",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": ADMIN_PASSWORD,
        f"{prefix}POSTGRES_USER": "users",
        f"{prefix}POSTGRES_PASSWORD": PG_PASSWORD,
        f"{prefix}POSTGRES_DB": "users",
        "REDIS_HOST": "redis.internal",
        f"{prefix}REDIS_PASSWORD": REDIS_PASSWORD,
        f"{prefix}REDIS_DB": "3",
        "RABBITMQ_HOST": "rabbitmq.internal",
        f"{prefix}RABBITMQ_USER": "users",
        f"{prefix}RABBITMQ_PASSWORD": AMQP_PASSWORD,
        # Staging verifies every server (issue 17): the cluster-wide TLS settings.
        "POSTGRES_SSLMODE": "verify-full",
        "POSTGRES_CA_FILE": "/etc/svcinfra/tls/ca.pem",
        "REDIS_TLS": "true",
        "RABBITMQ_TLS": "true",
    }


def test_loads_prefixed_credentials_and_shared_hosts() -> None:
    """Credentials come from the prefixed names, hosts from the cluster-wide fallback."""
    config = load_config(UsersConfig, valid_env())

    assert config.env_prefix == "USERS_"
    assert config.service.env is Environment.STAGING
    assert config.postgres.host == "pg.internal"
    assert config.postgres.user == "users"
    assert config.postgres.password.get_secret_value() == PG_PASSWORD
    assert config.redis.db == 3
    assert config.amqp.user == "users"
    assert config.http.tech_port == 8081


def test_prefixed_host_wins_over_the_shared_one() -> None:
    """A service may point at its own server; the prefixed name is read first."""
    env = valid_env() | {"USERS_POSTGRES_HOST": "pg-users.internal", "USERS_POSTGRES_PORT": "6432"}

    config = load_config(UsersConfig, env)

    assert (config.postgres.host, config.postgres.port) == ("pg-users.internal", 6432)
    assert config.safe_dump()["USERS_POSTGRES_HOST"] == "pg-users.internal"


def test_secret_never_falls_back_to_the_unprefixed_name() -> None:
    """With the prefixed password unset, the admin POSTGRES_PASSWORD is not used in its place."""
    env = valid_env()
    del env["USERS_POSTGRES_PASSWORD"]
    del env["USERS_POSTGRES_USER"]

    with pytest.raises(ConfigError) as caught:
        load_config(UsersConfig, env)

    problems = {p.variable: p.message for p in caught.value.problems}
    assert set(problems) == {"USERS_POSTGRES_USER", "USERS_POSTGRES_PASSWORD"}
    assert (
        "POSTGRES_PASSWORD is set but is not read in its place"
        in problems["USERS_POSTGRES_PASSWORD"]
    )
    assert ADMIN_PASSWORD not in str(caught.value)


def test_every_problem_is_reported_in_one_pass() -> None:
    """Missing, malformed and conflicting values across sections are all listed together."""
    env = valid_env() | {
        "ENV": "production",
        "API_PORT": "8081",
        "USERS_REDIS_DB": "99",
        "USERS_POSTGRES_POOL_MIN_SIZE": "20",
        "LOG_LEVEL": "verbose",
        "SHUTDOWN_TIMEOUT": "soon",
    }
    del env["SERVICE_NAME"]
    del env["RABBITMQ_HOST"]

    with pytest.raises(ConfigError) as caught:
        load_config(UsersConfig, env)

    problems = {p.variable: p.message for p in caught.value.problems}
    assert set(problems) == {
        "SERVICE_NAME",
        "ENV",
        "TECH_PORT",
        "USERS_REDIS_DB",
        "USERS_POSTGRES_POOL_MIN_SIZE",
        "LOG_LEVEL",
        "SHUTDOWN_TIMEOUT",
        "USERS_RABBITMQ_HOST",
    }
    assert problems["SERVICE_NAME"] == "required, not set"
    assert problems["TECH_PORT"] == "must differ from API_PORT"
    assert problems["USERS_RABBITMQ_HOST"].endswith("(nor its shared fallback RABBITMQ_HOST)")
    assert "dev" in problems["ENV"]


def test_env_prefix_is_required_when_credentials_are_prefixed() -> None:
    """Without ENV_PREFIX a service would read the cluster admin's credentials (CF-4)."""
    env = valid_env()
    del env["ENV_PREFIX"]

    with pytest.raises(ConfigError) as caught:
        load_config(UsersConfig, env)

    assert "ENV_PREFIX" in {p.variable for p in caught.value.problems}


@pytest.mark.parametrize("prefix", ["users_", "USERS", "1USERS_", "USE RS_"], ids=str)
def test_malformed_env_prefix_is_a_problem(prefix: str) -> None:
    """ENV_PREFIX must be upper-case and end in an underscore."""
    with pytest.raises(ConfigError) as caught:
        load_config(UsersConfig, valid_env() | {"ENV_PREFIX": prefix})

    assert caught.value.problems[0].variable == "ENV_PREFIX"


def test_a_config_without_prefixed_sections_needs_no_prefix() -> None:
    """A service with no database, cache or broker reads only its own unprefixed settings."""
    config = load_config(Config, {"SERVICE_NAME": "edge", "ENV": "dev"})

    assert config.env_prefix == ""
    assert config.observability.sample_ratio(config.service.env) == 1.0


def test_unknown_prefixed_variable_is_reported_with_a_suggestion() -> None:
    """A typo in an optional variable would otherwise be silently ignored."""
    env = valid_env() | {"USERS_REDIS_SOCKET_TIMEOUTS": "1"}

    with pytest.raises(ConfigError) as caught:
        load_config(UsersConfig, env)

    (problem,) = caught.value.problems
    assert problem.variable == "USERS_REDIS_SOCKET_TIMEOUTS"
    assert problem.message.endswith("did you mean USERS_REDIS_SOCKET_TIMEOUT?")


def test_empty_variable_counts_as_unset() -> None:
    """An empty value in a ConfigMap is not a value: the default (or 'required') applies."""
    config = load_config(UsersConfig, valid_env() | {"API_PORT": "", "USERS_REDIS_PASSWORD": ""})

    assert config.http.api_port == 8080
    assert config.redis.password is None


def test_dumps_and_reprs_mask_every_secret() -> None:
    """safe_dump, repr, str and JSON dumps contain no secret value (CF-3)."""
    env = valid_env() | {"OTEL_EXPORTER_OTLP_ENDPOINT": f"https://otel:{ADMIN_PASSWORD}@c:4317"}
    config = load_config(UsersConfig, env)
    secrets = (PG_PASSWORD, REDIS_PASSWORD, AMQP_PASSWORD, ADMIN_PASSWORD)

    dump = config.safe_dump()
    renderings = [json.dumps(dump), repr(config), str(config), config.model_dump_json()]

    for text in renderings:
        for secret in secrets:
            assert secret not in text
    assert dump["USERS_POSTGRES_PASSWORD"] == "***"  # noqa: S105  (the mask, not a password)
    assert dump["OTEL_EXPORTER_OTLP_ENDPOINT"] == "https://otel:***@c:4317"
    assert dump["POSTGRES_HOST"] == "pg.internal"  # named by the variable it came from


def test_secret_values_include_url_encoded_forms() -> None:
    """A password embedded in a DSN is URL-encoded, and masking must catch that form too."""
    env = valid_env() | {"USERS_POSTGRES_PASSWORD": "p@ss w/rd"}
    config = load_config(UsersConfig, env)

    values = config.secret_values()

    assert {"p@ss w/rd", "p%40ss%20w%2Frd", "p%40ss+w%2Frd"} <= values
    assert (
        config.postgres.dsn().get_secret_value().startswith("postgresql://users:p%40ss%20w%2Frd@")
    )
    assert "p%40ss" not in str(config.postgres.dsn())


def test_variables_describe_the_schema() -> None:
    """The schema names each variable as this service reads it, with kind, default and fallback."""
    variables = {v.name: v for v in UsersConfig.variables("USERS_")}

    password = variables["USERS_POSTGRES_PASSWORD"]
    host = variables["USERS_POSTGRES_HOST"]
    port = variables["TECH_PORT"]
    assert (password.kind, password.required, password.fallback) == ("secret", True, None)
    assert (host.kind, host.required, host.fallback) == ("variable", True, "POSTGRES_HOST")
    assert (port.default, port.required) == ("8081", False)
    assert variables["ENV_PREFIX"].required


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("api_key", True),
        ("AUTH_TOKEN", True),
        ("client-secret", True),
        ("db_passwd", True),
        ("host", False),
        ("keyspace", False),
        ("monkey", False),
        ("tokenizer_model", False),
    ],
    ids=str,
)
def test_looks_secret_matches_whole_name_parts(*, name: str, secret: bool) -> None:
    """Secret words match whole parts of a name, not substrings of other words."""
    assert looks_secret(name) is secret


def test_mask_url_credentials() -> None:
    """Passwords in URLs are masked; URLs without credentials are left alone."""
    text = "dsn=postgresql://u:s3cr%40t@h:5432/db other=http://h/x amqp://guest:guest@mq/"

    assert mask_url_credentials(text) == (
        "dsn=postgresql://u:***@h:5432/db other=http://h/x amqp://guest:***@mq/"
    )


def test_a_secret_cannot_be_shared() -> None:
    """Marking a secret as shared (fallback allowed) is refused (CF-4)."""
    with pytest.raises(ConfigDefinitionError, match="never fall back"):

        class Bad(Section):
            prefixed = True
            password: Annotated[SecretStr, Env(shared=True)]


def test_config_fields_must_be_sections() -> None:
    """A Config is made of sections only, so every value has a variable name and a schema."""
    with pytest.raises(ConfigDefinitionError, match=r"Bad\.timeout"):

        class Bad(Config):
            timeout: float = 1.0


def test_config_is_frozen() -> None:
    """The configuration does not change after start-up."""
    config = load_config(UsersConfig, valid_env())

    with pytest.raises(ValueError, match="frozen"):
        config.postgres.host = "elsewhere"  # type: ignore[misc]


def test_custom_section_reads_its_own_variables() -> None:
    """A service-specific section declares its variables the same way as the built-in ones."""

    class MailSettings(Section):
        env_section = "MAIL_"
        prefixed = True
        base_url: Annotated[str, Env(shared=True), Field(description="Mail API.")]
        api_key: SecretStr

    class NotificationsConfig(Config):
        mail: MailSettings

    env = {
        "ENV_PREFIX": "NOTIFICATIONS_",
        "SERVICE_NAME": "notifications",
        "ENV": "dev",
        "MAIL_BASE_URL": "http://fake-mail:8080",
        "NOTIFICATIONS_MAIL_API_KEY": "k-123456",
    }
    config = load_config(NotificationsConfig, env)

    assert config.mail.base_url == "http://fake-mail:8080"
    assert config.safe_dump()["NOTIFICATIONS_MAIL_API_KEY"] == "***"


@pytest.mark.parametrize(
    ("env", "pooler", "cache"),
    [
        ({}, "none", 100),
        ({"POSTGRES_POOLER": "transaction"}, "transaction", 0),
        ({"USERS_POSTGRES_POOLER": "transaction", "POSTGRES_POOLER": "none"}, "transaction", 0),
        (
            {"POSTGRES_POOLER": "transaction", "USERS_POSTGRES_STATEMENT_CACHE_SIZE": ""},
            "transaction",
            0,
        ),
        (
            {"POSTGRES_POOLER": "transaction", "USERS_POSTGRES_STATEMENT_CACHE_SIZE": "50"},
            "transaction",
            50,
        ),
        ({"USERS_POSTGRES_STATEMENT_CACHE_SIZE": "0"}, "none", 0),
    ],
    ids=["direct", "shared-pooler", "prefixed-wins", "empty-cache", "pgbouncer-1.21", "cache-off"],
)
def test_pooler_setting_and_its_statement_cache(
    env: dict[str, str], pooler: str, cache: int
) -> None:
    """POSTGRES_POOLER is a shared setting; unset, the statement cache is 0 behind a transaction
    pooler (pgbouncer < 1.21 has no named prepared statements) and 100 direct (issue 14)."""
    config = load_config(UsersConfig, valid_env() | env)
    assert config.postgres.pooler == pooler
    assert config.postgres.statement_cache() == cache


def test_unknown_pooler_is_a_problem_naming_the_variable() -> None:
    """A pooler other than none or transaction is refused (pgbouncer in session mode refuses the
    same startup parameters: it takes `transaction` too, docs/pgbouncer.md)."""
    with pytest.raises(ConfigError, match="POSTGRES_POOLER"):
        load_config(UsersConfig, valid_env() | {"POSTGRES_POOLER": "session"})


def test_redis_sentinels_are_shared_settings_parsed_into_addresses() -> None:
    """REDIS_SENTINELS and REDIS_SENTINEL_MASTER are cluster-wide (issue 20); unset: one host."""
    plain = {k: v for k, v in valid_env().items() if k != "REDIS_TLS"} | {
        "REDIS_ALLOW_INSECURE": "sentinel test"
    }
    assert load_config(UsersConfig, plain).redis.sentinel_addresses() == []

    config = load_config(
        UsersConfig,
        plain
        | {
            "REDIS_SENTINELS": "sentinel-0.redis:26379,sentinel-1.redis,[::1]:26380",
            "USERS_REDIS_SENTINEL_MASTER": "users-cache",
        },
    )

    assert config.redis.sentinel_master == "users-cache"
    assert config.redis.sentinel_addresses() == [
        ("sentinel-0.redis", 26379),
        ("sentinel-1.redis", 26379),
        ("::1", 26380),
    ]


@pytest.mark.parametrize(
    ("env", "variable", "message"),
    [
        ({"REDIS_SENTINELS": "s1:26379"}, "REDIS_SENTINEL_MASTER", "required with"),
        ({"REDIS_SENTINEL_MASTER": "cache"}, "REDIS_SENTINEL_MASTER", "REDIS_SENTINELS is not"),
        (
            {"REDIS_SENTINELS": "s1:26379,:1", "REDIS_SENTINEL_MASTER": "c"},
            "REDIS_SENTINELS",
            "':1' is not host:port",
        ),
        (
            {"REDIS_SENTINELS": "s1:70000", "REDIS_SENTINEL_MASTER": "c"},
            "REDIS_SENTINELS",
            "not host:port",
        ),
        (
            {"REDIS_SENTINELS": "s1:26379", "REDIS_SENTINEL_MASTER": "c", "REDIS_TLS": "true"},
            "REDIS_SENTINELS",
            "not supported together with REDIS_TLS",
        ),
    ],
    ids=["no-master", "master-alone", "empty-host", "bad-port", "with-tls"],
)
def test_a_malformed_sentinel_setting_names_its_variable(
    env: dict[str, str], variable: str, message: str
) -> None:
    """Each mistake is a problem of the variable to fix, with what is wrong."""
    plain = {k: v for k, v in valid_env().items() if k != "REDIS_TLS"} | {
        "REDIS_ALLOW_INSECURE": "sentinel test"
    }
    with pytest.raises(ConfigError, match=variable) as raised:
        load_config(UsersConfig, plain | env)
    assert message in str(raised.value)


def test_redis_cluster_nodes_are_a_shared_setting_parsed_into_addresses() -> None:
    """REDIS_CLUSTER_NODES is cluster-wide (issue 20); unset: one host, the default."""
    plain = {k: v for k, v in valid_env().items() if k != "REDIS_TLS"} | {
        "REDIS_ALLOW_INSECURE": "cluster test",
        "USERS_REDIS_DB": "0",  # a cluster has only db 0
    }
    assert load_config(UsersConfig, plain).redis.cluster_addresses() == []
    assert load_config(UsersConfig, plain).redis.cluster_nodes is None

    config = load_config(
        UsersConfig, plain | {"REDIS_CLUSTER_NODES": "redis-0.redis:7000, redis-1.redis,[::1]:7001"}
    )

    assert config.redis.cluster_addresses() == [
        ("redis-0.redis", 7000),
        ("redis-1.redis", 6379),
        ("::1", 7001),
    ]


@pytest.mark.parametrize(
    ("env", "variable", "message"),
    [
        ({"REDIS_CLUSTER_NODES": "r1:7000,:1"}, "REDIS_CLUSTER_NODES", "':1' is not host:port"),
        ({"REDIS_CLUSTER_NODES": "r1:0"}, "REDIS_CLUSTER_NODES", "not host:port"),
        ({"REDIS_CLUSTER_NODES": "r1:7000,,r2"}, "REDIS_CLUSTER_NODES", "not host:port"),
        (
            {"REDIS_CLUSTER_NODES": "r1", "REDIS_SENTINELS": "s1", "REDIS_SENTINEL_MASTER": "c"},
            "REDIS_CLUSTER_NODES",
            "both set",
        ),
        ({"REDIS_CLUSTER_NODES": "r1", "USERS_REDIS_DB": "3"}, "REDIS_DB", "must be 0"),
        (
            {"REDIS_CLUSTER_NODES": "r1", "REDIS_TLS": "true"},
            "REDIS_CLUSTER_NODES",
            "not supported together with REDIS_TLS",
        ),
    ],
    ids=["empty-host", "bad-port", "empty-entry", "with-sentinels", "db-not-0", "with-tls"],
)
def test_a_malformed_cluster_setting_names_its_variable(
    env: dict[str, str], variable: str, message: str
) -> None:
    """Each mistake is a problem of the variable to fix, with what is wrong."""
    plain = {k: v for k, v in valid_env().items() if k != "REDIS_TLS"} | {
        "REDIS_ALLOW_INSECURE": "cluster test",
        "USERS_REDIS_DB": "0",  # a cluster has only db 0
    }
    with pytest.raises(ConfigError, match=variable) as raised:
        load_config(UsersConfig, plain | env)
    assert message in str(raised.value)
