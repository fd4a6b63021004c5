"""The service's configuration: one pass over the environment, secrets masked (CF-3..CF-6)."""

from __future__ import annotations

import secrets

import notifkit
import pytest
from notifications.config import NotificationsConfig

from svcinfra.config import MASK, ConfigError, load_config


def valid_env() -> dict[str, str]:
    return notifkit.environ(
        prefix="p",
        dbname="notifications",
        mail_url="http://127.0.0.1:8090",
        api_key=secrets.token_urlsafe(24),
    )


def test_a_valid_environment_loads_with_the_contracts_tiers_unless_overridden() -> None:
    """Unset overrides keep the contract's names and tiers; set ones are parsed."""
    env = valid_env()
    del env["CONSUMER_TOPOLOGY_PREFIX"], env["CONSUMER_RETRY_BACKOFF"]
    config = load_config(NotificationsConfig, environ=env)
    assert config.consumer.topology_prefix is None
    assert config.consumer.backoff() is None
    overridden = load_config(NotificationsConfig, environ=valid_env())
    assert overridden.consumer.backoff() == ("100ms", "200ms", "300ms")


def test_the_safe_dump_masks_every_secret() -> None:
    """The start-up log line (safe_dump) names the key's variable but never its value."""
    env = valid_env()
    dump = load_config(NotificationsConfig, environ=env).safe_dump()
    assert dump["NOTIFICATIONS_MAIL_API_API_KEY"] == MASK
    text = repr(dump)
    for secret in ("NOTIFICATIONS_MAIL_API_API_KEY", "NOTIFICATIONS_POSTGRES_PASSWORD"):
        assert env[secret] not in text


def test_an_unprefixed_mail_key_is_not_read() -> None:
    """CF-4: the key is read only from NOTIFICATIONS_MAIL_API_API_KEY, never MAIL_API_API_KEY."""
    env = valid_env()
    env["MAIL_API_API_KEY"] = env.pop("NOTIFICATIONS_MAIL_API_API_KEY")
    with pytest.raises(ConfigError) as raised:
        load_config(NotificationsConfig, environ=env)
    assert "NOTIFICATIONS_MAIL_API_API_KEY" in str(raised.value)


def test_every_problem_is_reported_at_once() -> None:
    """Several broken variables: one ConfigError naming each of them (CF-6)."""
    env = valid_env()
    env["NOTIFICATIONS_MAIL_API_DEADLINE"] = "0.1"  # below the timeouts it bounds
    env["CONSUMER_PREFETCH"] = "0"
    env["CONSUMER_RETRY_BACKOFF"] = "1 hour"
    del env["NOTIFICATIONS_RABBITMQ_PASSWORD"]
    with pytest.raises(ConfigError) as raised:
        load_config(NotificationsConfig, environ=env)
    names = {problem.variable for problem in raised.value.problems}
    assert {
        "CONSUMER_PREFETCH",
        "CONSUMER_RETRY_BACKOFF",
        "NOTIFICATIONS_RABBITMQ_PASSWORD",
    } <= names
    assert any(name.startswith("NOTIFICATIONS_MAIL_API_") for name in names)
