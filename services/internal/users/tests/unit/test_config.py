"""UsersConfig: credentials isolated by ENV_PREFIX=USERS_ (CF-4), every problem listed, masked."""

from __future__ import annotations

import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from users.config import UsersConfig

from svcinfra.config import MASK, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[5]
PASSWORD = secrets.token_urlsafe(16)


def environ(**change: str | None) -> dict[str, str]:
    env = {
        "ENV_PREFIX": "USERS_",
        "SERVICE_NAME": "users",
        "ENV": "dev",
        "USERS_POSTGRES_HOST": "db",
        "USERS_POSTGRES_USER": "users",
        "USERS_POSTGRES_PASSWORD": PASSWORD,
        "USERS_POSTGRES_DB": "users",
        "USERS_REDIS_HOST": "cache",
        "USERS_RABBITMQ_HOST": "mq",
        "USERS_RABBITMQ_USER": "users",
        "USERS_RABBITMQ_PASSWORD": PASSWORD + "-mq",
    }
    for name, value in change.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def test_the_prefixed_variables_configure_the_service() -> None:
    config = load_config(UsersConfig, environ())

    assert config.postgres.password.get_secret_value() == PASSWORD
    assert config.http.api_port == 8080
    assert config.http.tech_port == 8081
    dump = config.safe_dump()
    assert dump["USERS_POSTGRES_PASSWORD"] == MASK
    assert dump["USERS_RABBITMQ_PASSWORD"] == MASK
    assert PASSWORD not in str(dump)


def test_credentials_never_come_from_another_services_or_unprefixed_variables() -> None:
    """CF-4: with USERS_POSTGRES_PASSWORD unset, neither POSTGRES_PASSWORD nor another
    service's NOTIFICATIONS_POSTGRES_PASSWORD is read in its place."""
    env = environ(USERS_POSTGRES_PASSWORD=None) | {
        "POSTGRES_PASSWORD": "cluster-admin",
        "NOTIFICATIONS_POSTGRES_PASSWORD": "theirs",
    }

    with pytest.raises(ConfigError) as caught:
        load_config(UsersConfig, env)

    problems = {p.variable: p.message for p in caught.value.problems}
    assert "USERS_POSTGRES_PASSWORD" in problems
    assert "never fall back" in problems["USERS_POSTGRES_PASSWORD"]
    assert "cluster-admin" not in str(caught.value)
    assert "theirs" not in str(caught.value)


def test_without_a_prefix_the_service_refuses_to_start() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(UsersConfig, environ(ENV_PREFIX=None))

    assert "ENV_PREFIX" in {p.variable for p in caught.value.problems}


def test_every_problem_is_listed_at_once() -> None:
    env = environ(USERS_POSTGRES_DB=None, API_PORT="x", USERS_REDIS_PORT="0", ENV="moon")

    with pytest.raises(ConfigError) as caught:
        load_config(UsersConfig, env)

    variables = {p.variable for p in caught.value.problems}
    assert variables >= {"USERS_POSTGRES_DB", "API_PORT", "USERS_REDIS_PORT", "ENV"}


def test_the_committed_env_example_matches_the_config() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "svcinfra"), "env", "example", "--check",
         "services/internal/users"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stdout + done.stderr
