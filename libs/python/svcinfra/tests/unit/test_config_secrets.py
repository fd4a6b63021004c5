"""CF-4 by construction: a secret is marked by its type and read only under ENV_PREFIX (issue 17).

A field typed `SecretStr` is read under the service's prefix whatever its section's `prefixed`
and the Config's `require_env_prefix` say; a name that only looks secret decides nothing at
run time (`svcinfra check` warns about it, config-secret-name).
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import pytest
from pydantic import SecretStr

from svcinfra.config import (
    Config,
    ConfigDefinitionError,
    ConfigError,
    NotSecret,
    PostgresSettings,
    Section,
    load_config,
    looks_secret,
)

BARE_KEY = "bare-payments-key-5d0c"  # a test value, not a credential
OWN_KEY = "users-payments-key-91ab"
ADMIN_PASSWORD = "cluster-admin-pw-6b1f"  # noqa: S105  (a test value, not a credential)
OWN_PASSWORD = "users-pg-pw-3c9d"  # noqa: S105


class PaymentsSettings(Section):
    """An external API's section that does not opt in to prefixing."""

    env_section = "PAYMENTS_"
    base_url: str = "https://payments.example"
    api_key: SecretStr


class PaymentsConfig(Config):
    payments: PaymentsSettings


class LaxPostgresConfig(Config):
    """A Config that waives the prefix for its non-secret settings."""

    require_env_prefix: ClassVar[bool] = False
    postgres: PostgresSettings


def _service(**extra: str) -> dict[str, str]:
    return {"SERVICE_NAME": "users", "ENV": "dev", **extra}


def _problems(exc: pytest.ExceptionInfo[ConfigError]) -> dict[str, str]:
    return {p.variable: p.message for p in exc.value.problems}


def test_a_bare_secret_of_an_unprefixed_section_is_not_read() -> None:
    """`PAYMENTS_API_KEY` alone is refused: the key is read only as USERS_PAYMENTS_API_KEY."""
    env = _service(ENV_PREFIX="USERS_", PAYMENTS_API_KEY=BARE_KEY)

    with pytest.raises(ConfigError) as exc:
        load_config(PaymentsConfig, env)

    problems = _problems(exc)
    assert list(problems) == ["USERS_PAYMENTS_API_KEY"]
    assert "PAYMENTS_API_KEY is set but is not read" in problems["USERS_PAYMENTS_API_KEY"]
    assert BARE_KEY not in str(exc.value)


def test_the_secret_of_an_unprefixed_section_is_read_under_the_prefix() -> None:
    """The section's non-secret fields keep their names; its secret takes the prefix."""
    env = _service(
        ENV_PREFIX="USERS_",
        PAYMENTS_API_KEY=BARE_KEY,
        USERS_PAYMENTS_API_KEY=OWN_KEY,
        PAYMENTS_BASE_URL="https://pay.internal",
    )

    config = load_config(PaymentsConfig, env)

    assert config.payments.api_key.get_secret_value() == OWN_KEY
    assert config.payments.base_url == "https://pay.internal"
    names = {v.field: v.name for v in PaymentsConfig.variables("USERS_")}
    assert names["api_key"] == "USERS_PAYMENTS_API_KEY"
    assert names["base_url"] == "PAYMENTS_BASE_URL"


def test_a_config_with_a_secret_needs_env_prefix() -> None:
    """Without ENV_PREFIX nothing secret is read: the error names ENV_PREFIX and CF-4."""
    with pytest.raises(ConfigError) as exc:
        load_config(PaymentsConfig, _service(PAYMENTS_API_KEY=BARE_KEY))

    problems = _problems(exc)
    assert "CF-4" in problems["ENV_PREFIX"]
    assert "secret" in problems["ENV_PREFIX"]
    assert problems["PAYMENTS_API_KEY"].startswith("not read")
    assert BARE_KEY not in str(exc.value)
    assert next(v for v in PaymentsConfig.variables("") if v.name == "ENV_PREFIX").required


def test_require_env_prefix_false_never_reads_the_admin_password() -> None:
    """`require_env_prefix=False` with the cluster admin's POSTGRES_PASSWORD set: refused."""
    env = _service(
        POSTGRES_HOST="pg.internal",
        POSTGRES_USER="postgres",
        POSTGRES_PASSWORD=ADMIN_PASSWORD,
        POSTGRES_DB="postgres",
    )

    with pytest.raises(ConfigError) as exc:
        load_config(LaxPostgresConfig, env)

    problems = _problems(exc)
    assert "CF-4" in problems["ENV_PREFIX"]
    assert ADMIN_PASSWORD not in str(exc.value)


def test_require_env_prefix_false_reads_the_password_under_the_prefix() -> None:
    """With a prefix, the waived Config reads its own password and not the admin's."""
    env = _service(
        ENV_PREFIX="USERS_",
        POSTGRES_HOST="pg.internal",
        USERS_POSTGRES_USER="users",
        USERS_POSTGRES_DB="users",
        POSTGRES_PASSWORD=ADMIN_PASSWORD,
        USERS_POSTGRES_PASSWORD=OWN_PASSWORD,
    )

    config = load_config(LaxPostgresConfig, env)

    assert config.postgres.password.get_secret_value() == OWN_PASSWORD
    del env["USERS_POSTGRES_PASSWORD"]
    with pytest.raises(ConfigError) as exc:
        load_config(LaxPostgresConfig, env)
    assert "POSTGRES_PASSWORD is set but is not read" in _problems(exc)["USERS_POSTGRES_PASSWORD"]


NON_SECRET_NAMES = ("routing_key", "key_prefix", "token_url", "auth_url", "publishable_key")


@pytest.mark.parametrize("name", NON_SECRET_NAMES)
def test_a_name_that_only_looks_secret_is_accepted(name: str) -> None:
    """The name heuristic no longer refuses a class: only `SecretStr` makes a secret."""
    assert looks_secret(name)
    section = type(
        "Plain",
        (Section,),
        {"__annotations__": {name: "str"}, "__module__": __name__, "env_section": "X_"},
    )

    class PlainConfig(Config):
        plain: section  # type: ignore[valid-type]

    config = load_config(PlainConfig, _service(**{f"X_{name.upper()}": "value"}))

    assert getattr(config.plain, name) == "value"
    assert not PlainConfig.has_secrets()
    assert config.safe_dump()[f"X_{name.upper()}"] == "value"


def test_not_secret_marks_a_plain_field_with_its_reason() -> None:
    """`NotSecret("why")` is accepted on a plain field; it needs a reason."""

    class Routing(Section):
        env_section = "ROUTING_"
        routing_key: Annotated[str, NotSecret("an AMQP routing key, public in the contract")]

    assert Routing(routing_key="user.created").routing_key == "user.created"
    with pytest.raises(ConfigDefinitionError, match="reason"):
        NotSecret(" ")


def test_a_secretstr_field_marked_not_secret_is_refused() -> None:
    """A field cannot be both: the class is refused when it is defined."""
    with pytest.raises(ConfigDefinitionError, match=r"Bad\.token"):

        class Bad(Section):
            token: Annotated[SecretStr, NotSecret("contradiction")]
