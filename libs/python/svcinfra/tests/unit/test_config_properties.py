"""Property tests of env parsing (CF-4, CF-6): isolation, fallback, one pass, no value echoed."""

from __future__ import annotations

import re

from hypothesis import assume, given
from hypothesis import strategies as st

from svcinfra.config import (
    Config,
    ConfigError,
    PostgresSettings,
    RedisSettings,
    load_config,
)


class AppConfig(Config):
    postgres: PostgresSettings
    redis: RedisSettings


prefixes = st.from_regex(r"\A[A-Z][A-Z0-9_]{0,12}_\Z")
hosts = st.from_regex(r"\A[a-z][a-z0-9.-]{0,30}\Z")
# Every generated value starts with a marker that no message or variable name contains, so a value
# echoed in whole or in part (as pydantic's `input_value=...` would) shows up as the marker.
MARK = "\u2063"
secret_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")),
    min_size=1,
    max_size=64,
).map(lambda s: f"{MARK}{s}")


def outcome(env: dict[str, str]) -> AppConfig | ConfigError:
    """Load the config, returning the error instead of raising it."""
    try:
        return load_config(AppConfig, env)
    except ConfigError as exc:
        return exc


def base_env(prefix: str) -> dict[str, str]:
    return {
        "ENV_PREFIX": prefix,
        "SERVICE_NAME": "app",
        "ENV": "dev",
        "POSTGRES_HOST": "pg",
        f"{prefix}POSTGRES_USER": "app",
        f"{prefix}POSTGRES_PASSWORD": "app-password",
        f"{prefix}POSTGRES_DB": "app",
        "REDIS_HOST": "redis",
    }


@given(prefix=prefixes, password=secret_text, admin=secret_text)
def test_secrets_are_read_only_from_the_prefixed_name(
    prefix: str,
    password: str,
    admin: str,
) -> None:
    """Whatever the prefix and values, the service's password is the prefixed one, never admin's."""
    assume(password != admin)
    env = base_env(prefix) | {"POSTGRES_PASSWORD": admin, f"{prefix}POSTGRES_PASSWORD": password}

    config = load_config(AppConfig, env)

    assert config.postgres.password.get_secret_value() == password
    for text in (repr(config), str(config.safe_dump()), config.model_dump_json()):
        assert MARK not in text


@given(prefix=prefixes, admin=secret_text)
def test_a_missing_prefixed_secret_is_an_error_not_a_fallback(prefix: str, admin: str) -> None:
    """Only the unprefixed (admin) password set: loading fails naming the prefixed variable."""
    env = base_env(prefix) | {"POSTGRES_PASSWORD": admin}
    del env[f"{prefix}POSTGRES_PASSWORD"]

    result = outcome(env)

    assert isinstance(result, ConfigError), "the admin password was accepted in its place"
    assert [p.variable for p in result.problems] == [f"{prefix}POSTGRES_PASSWORD"]
    assert MARK not in str(result)


@given(prefix=prefixes, shared=hosts, own=st.none() | hosts)
def test_shared_settings_fall_back_only_when_the_prefixed_one_is_unset(
    prefix: str,
    shared: str,
    own: str | None,
) -> None:
    """Host: the prefixed variable when set, else the cluster-wide one."""
    env = base_env(prefix) | {"POSTGRES_HOST": shared}
    if own is not None:
        env[f"{prefix}POSTGRES_HOST"] = own

    config = load_config(AppConfig, env)

    assert config.postgres.host == (own if own is not None else shared)


@given(port=st.integers(min_value=-100_000, max_value=200_000))
def test_ports_parse_or_name_the_variable(port: int) -> None:
    """A port in 1..65535 is read as an int; any other number is a problem naming the variable."""
    env = base_env("APP_") | {"APP_POSTGRES_PORT": str(port)}

    result = outcome(env)

    if 1 <= port <= 65535:
        assert isinstance(result, AppConfig)
        assert result.postgres.port == port
    else:
        assert isinstance(result, ConfigError)
        assert [p.variable for p in result.problems] == ["APP_POSTGRES_PORT"]


@given(prefix=st.text(max_size=16))
def test_env_prefix_is_accepted_only_in_its_documented_form(prefix: str) -> None:
    """ENV_PREFIX is upper-case letters, digits and underscores, ending in an underscore."""
    assume("\x00" not in prefix)
    env = base_env("APP_") | {"ENV_PREFIX": prefix}
    if prefix:
        env |= {f"{prefix}POSTGRES_{k}": v for k, v in (("USER", "a"), ("PASSWORD", "b"))}
        env[f"{prefix}POSTGRES_DB"] = "c"
    valid = re.fullmatch(r"[A-Z][A-Z0-9_]*_", prefix) is not None

    result = outcome(env)

    if valid:
        assert isinstance(result, AppConfig)
    else:
        assert isinstance(result, ConfigError)
        assert "ENV_PREFIX" in {p.variable for p in result.problems}


@given(
    values=st.dictionaries(
        keys=st.sampled_from(
            [
                "ENV",
                "SERVICE_NAME",
                "API_PORT",
                "TECH_PORT",
                "LOG_LEVEL",
                "SHUTDOWN_TIMEOUT",
                "TRACE_SAMPLE_RATIO",
                "APP_POSTGRES_PORT",
                "APP_POSTGRES_POOL_MAX_SIZE",
                "APP_POSTGRES_SSLMODE",
                "APP_POSTGRES_PASSWORD",
                "APP_REDIS_DB",
                "APP_REDIS_PASSWORD",
            ],
        ),
        values=secret_text,
        min_size=1,
    )
)
def test_problems_never_echo_a_value(values: dict[str, str]) -> None:
    """Whatever garbage the environment holds, the error text names variables, never values."""
    env = base_env("APP_") | values

    result = outcome(env)

    if isinstance(result, ConfigError):
        assert MARK not in str(result)
        assert {p.variable for p in result.problems} <= set(values) | {"TECH_PORT"}
    else:
        assert MARK not in str(result.safe_dump())
