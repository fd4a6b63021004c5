"""TLS settings of PostgreSQL, Redis and RabbitMQ, and their refusal in staging and prod (issue 17).

Without a server: what the variables mean, which combinations are refused (each problem naming
its variable), what the URLs carry, and that staging and prod refuse a plaintext or unverified
connection unless `*_ALLOW_INSECURE` gives the reason. The handshakes themselves are proven in
tests/integration/test_tls.py against private servers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import pytest

from svcinfra.app import main
from svcinfra.config import ConfigError, load_config
from svcinfra.messaging._connect import amqp_tls_client
from svcinfra.testing import FullConfig, TestCA, full_environ

if TYPE_CHECKING:
    from pathlib import Path

CA = "/etc/svcinfra/tls/ca.pem"

VERIFIED = {
    "POSTGRES_SSLMODE": "verify-full",
    "POSTGRES_CA_FILE": CA,
    "REDIS_TLS": "true",
    "REDIS_CA_FILE": CA,
    "RABBITMQ_TLS": "true",
    "RABBITMQ_CA_FILE": CA,
    "RABBITMQ_PORT": "5671",
}


def environ(env: str = "prod", **variables: str) -> dict[str, str]:
    return full_environ() | {"ENV": env} | variables


def problems(values: dict[str, str]) -> dict[str, str]:
    with pytest.raises(ConfigError) as caught:
        load_config(FullConfig, values)
    return {p.variable: p.message for p in caught.value.problems}


@pytest.mark.parametrize("env", ["staging", "prod"])
def test_plaintext_in_staging_and_prod_is_refused_naming_each_server(env: str) -> None:
    """The defaults (sslmode prefer, no TLS) name POSTGRES_SSLMODE, REDIS_TLS, RABBITMQ_TLS."""
    found = problems(environ(env))

    assert set(found) == {"APP_POSTGRES_SSLMODE", "APP_REDIS_TLS", "APP_RABBITMQ_TLS"}
    assert "POSTGRES_ALLOW_INSECURE" in found["APP_POSTGRES_SSLMODE"]
    assert f"(ENV={env})" in found["APP_REDIS_TLS"]


@pytest.mark.parametrize("env", ["dev", "ai-staging"])
def test_plaintext_in_dev_like_environments_is_accepted(env: str) -> None:
    """The in-namespace servers of dev and ai-staging have no TLS: plaintext loads there."""
    config = load_config(FullConfig, environ(env))

    assert (config.postgres.sslmode, config.redis.tls, config.amqp.tls) == ("prefer", False, False)


def test_verified_tls_to_all_three_loads_in_prod() -> None:
    """verify-full with a CA, rediss and amqps with CAs: a valid prod configuration."""
    config = load_config(FullConfig, environ(**VERIFIED))

    assert config.postgres.sslmode == "verify-full"
    assert config.redis.tls
    assert config.amqp.tls


@pytest.mark.parametrize("mode", ["disable", "allow", "prefer", "require", "verify-ca"])
def test_every_sslmode_short_of_verify_full_is_refused_in_prod(mode: str) -> None:
    """require encrypts without checking whom; verify-ca does not check the host name."""
    values = environ(**VERIFIED) | {"POSTGRES_SSLMODE": mode}
    if mode != "verify-ca":
        del values["POSTGRES_CA_FILE"]

    # Named as read: the cluster-wide variable, not the service's override.
    assert set(problems(values)) == {"POSTGRES_SSLMODE"}


@pytest.mark.parametrize("server", ["REDIS", "RABBITMQ"])
def test_unverified_tls_is_refused_in_prod_naming_tls_verify(server: str) -> None:
    """TLS without verification (`*_TLS_VERIFY=false`) encrypts to anyone: refused in prod."""
    found = problems(environ(**VERIFIED) | {f"{server}_TLS_VERIFY": "false"})

    assert set(found) == {f"{server}_TLS_VERIFY"}


def test_a_reason_per_server_allows_an_insecure_connection() -> None:
    """`*_ALLOW_INSECURE` with a reason lifts the refusal for that server only."""
    values = environ(
        POSTGRES_ALLOW_INSECURE="sidecar proxy terminates TLS (ticket OPS-12)",
        REDIS_ALLOW_INSECURE="node-local cache",
    )

    assert set(problems(values)) == {"APP_RABBITMQ_TLS"}
    values["RABBITMQ_ALLOW_INSECURE"] = "in-namespace broker"
    config = load_config(FullConfig, values)
    assert config.safe_dump()["RABBITMQ_ALLOW_INSECURE"] == "in-namespace broker"


def test_a_per_service_reason_overrides_for_that_service_only() -> None:
    """The prefixed name counts too (one service behind a sidecar, say)."""
    values = environ(**VERIFIED) | {
        "POSTGRES_SSLMODE": "require",
        "APP_POSTGRES_ALLOW_INSECURE": "sidecar",
    }
    del values["POSTGRES_CA_FILE"]

    assert load_config(FullConfig, values).postgres.allow_insecure == "sidecar"


def test_verify_modes_need_a_ca_file_and_other_modes_refuse_one() -> None:
    """verify-full without POSTGRES_CA_FILE, and a CA file with require, are both mistakes."""
    missing = problems(environ("dev", POSTGRES_SSLMODE="verify-full"))
    useless = problems(environ("dev", POSTGRES_SSLMODE="require", POSTGRES_CA_FILE=CA))

    assert "required with POSTGRES_SSLMODE=verify-full" in missing["APP_POSTGRES_CA_FILE"]
    assert "does not verify the server" in useless["APP_POSTGRES_CA_FILE"]


@pytest.mark.parametrize("server", ["POSTGRES", "REDIS", "RABBITMQ"])
def test_a_client_certificate_needs_its_key_and_the_key_its_certificate(server: str) -> None:
    """Half a client pair is named by the missing half."""
    base = environ("dev", **VERIFIED)

    no_key = problems(base | {f"APP_{server}_CERT_FILE": "/tls/client.pem"})
    no_cert = problems(base | {f"APP_{server}_KEY_FILE": "/tls/client.key"})

    assert set(no_key) == {f"APP_{server}_KEY_FILE"}
    assert set(no_cert) == {f"APP_{server}_CERT_FILE"}


@pytest.mark.parametrize("variable", ["CA_FILE", "TLS_SERVER_NAME"])
@pytest.mark.parametrize("server", ["REDIS", "RABBITMQ"])
def test_tls_settings_without_tls_are_refused(server: str, variable: str) -> None:
    """A CA file or server name while `*_TLS` is false would silently do nothing."""
    found = problems(environ("dev", **{f"{server}_{variable}": "x"}))

    assert found == {
        f"APP_{server}_{variable}": f"{server}_{variable} is set but {server}_TLS is false"
    }


def test_the_postgres_dsn_carries_the_tls_files_as_libpq_keywords() -> None:
    """sslrootcert, sslcert, sslkey: every user of the DSN (pool, migrate, relay) verifies."""
    config = load_config(
        FullConfig,
        environ(
            **VERIFIED,
            APP_POSTGRES_CERT_FILE="/tls/users client.pem",
            APP_POSTGRES_KEY_FILE="/tls/users.key",
        ),
    )
    query = parse_qs(urlsplit(config.postgres.dsn().get_secret_value()).query)

    assert query == {
        "sslmode": ["verify-full"],
        "sslrootcert": [CA],
        "sslcert": ["/tls/users client.pem"],
        "sslkey": ["/tls/users.key"],
    }


def test_the_amqp_url_is_amqps_with_aiormqs_keywords_and_the_server_name() -> None:
    """amqps://, cafile/certfile/keyfile (aiormq's names) and server_name for svcinfra."""
    config = load_config(
        FullConfig,
        environ(
            **VERIFIED,
            RABBITMQ_TLS_SERVER_NAME="mq.internal",
            APP_RABBITMQ_CERT_FILE="/tls/c.pem",
            APP_RABBITMQ_KEY_FILE="/tls/c.key",
        ),
    )
    url = urlsplit(config.amqp.url().get_secret_value())

    assert url.scheme == "amqps"
    assert parse_qs(url.query) == {
        "heartbeat": ["30"],
        "connection_timeout": ["5000"],
        "cafile": [CA],
        "certfile": ["/tls/c.pem"],
        "keyfile": ["/tls/c.key"],
        "server_name": ["mq.internal"],
    }


def test_the_plain_amqp_url_is_unchanged() -> None:
    """Without TLS the URL is what it was: amqp://, heartbeat and timeout only."""
    config = load_config(FullConfig, environ("dev"))

    assert config.amqp.url().get_secret_value() == (
        "amqp://guest:guest@127.0.0.1:5672/%2F?heartbeat=30&connection_timeout=5000"
    )


def test_unverified_amqps_url_says_no_verify_ssl() -> None:
    """RABBITMQ_TLS_VERIFY=false is aiormq's no_verify_ssl=1, and svcinfra's context agrees."""
    config = load_config(
        FullConfig, environ("dev", RABBITMQ_TLS="true", RABBITMQ_TLS_VERIFY="false")
    )
    url = config.amqp.url().get_secret_value()
    tls = amqp_tls_client(url)

    assert parse_qs(urlsplit(url).query)["no_verify_ssl"] == ["1"]
    assert tls is not None
    assert tls.context.check_hostname is False


def test_an_unreadable_ca_file_is_a_config_error_naming_the_variable(tmp_path: Path) -> None:
    """The context is built from the files: a missing one names its variable and path."""
    config = load_config(
        FullConfig, environ("dev", REDIS_TLS="true", REDIS_CA_FILE=str(tmp_path / "none.pem"))
    )

    with pytest.raises(ConfigError) as caught:
        config.redis.tls_client()

    assert [p.variable for p in caught.value.problems] == ["REDIS_CA_FILE"]
    assert "no such file" in caught.value.problems[0].message


def test_a_key_that_does_not_match_is_a_config_error_naming_both(tmp_path: Path) -> None:
    """A client certificate with another certificate's key is named by both variables."""
    ca = TestCA(tmp_path / "ca")
    one, other = ca.issue("one", client=True), ca.issue("other", client=True)
    config = load_config(
        FullConfig,
        environ(
            "dev",
            REDIS_TLS="true",
            REDIS_CA_FILE=str(ca.cert),
            APP_REDIS_CERT_FILE=str(one.cert),
            APP_REDIS_KEY_FILE=str(other.key),
        ),
    )

    with pytest.raises(ConfigError) as caught:
        config.redis.tls_client()

    assert caught.value.problems[0].variable == "REDIS_CERT_FILE / REDIS_KEY_FILE"


def test_the_runner_exits_78_on_plaintext_in_prod(capsys: pytest.CaptureFixture[str]) -> None:
    """A service started in prod with a plaintext setting exits with EX_CONFIG (78)."""

    async def setup(*_: object) -> None:  # never reached
        raise AssertionError

    status = main(FullConfig, setup, environ=environ())

    assert status == 78
    assert "APP_REDIS_TLS" in capsys.readouterr().err
