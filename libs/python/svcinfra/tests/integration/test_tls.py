"""TLS to PostgreSQL, Redis and RabbitMQ, verified against servers of this test's own (issue 17).

One CA is generated for the module (`TestCA`, the `openssl` command line); a second, unrelated
one stands for "the wrong CA". Each server is private (`PrivatePostgres` with `ssl = on`,
`PrivateRedis` with `--tls-port` and `--port 0`, `PrivateRabbitNode` with an `ssl_options`
listener), started once for the module on ports of `free_port`, and removed afterwards; the
machine's shared servers are not involved. For each server: the right CA connects and works; the
wrong CA and a wrong server name fail with an error that names the variable to fix; PostgreSQL
and Redis also show a server that requires a client certificate refusing a client without one
(naming *_CERT_FILE) and accepting one with it.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import aio_pika
import pytest
from pydantic import SecretStr
from redis.exceptions import ConnectionError as RedisConnectionError

from svcinfra.cache import create_cache_client
from svcinfra.config import AmqpSettings, ConfigError, PostgresSettings, RedisSettings
from svcinfra.messaging._connect import AmqpTlsError, connect_amqp
from svcinfra.postgres import Database, TemporarilyUnavailable
from svcinfra.postgres.migrate import DatabaseUnavailableError
from svcinfra.postgres.migrate._connect import connect as migrate_connect
from svcinfra.testing import PrivatePostgres, PrivateRedis, ServerTls, TestCA, free_port
from svcinfra.testing._rabbitnode import PrivateRabbitNode

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="module", name="ca")
def _ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="module", name="wrong_ca")
def _wrong_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(tmp_path_factory.mktemp("wrong-ca"), name="some other CA")


@pytest.fixture(scope="module", name="server_tls")
def _server_tls(ca: TestCA) -> ServerTls:
    """A server certificate for localhost and 127.0.0.1."""
    issued = ca.issue("server", dns=("localhost",), ips=("127.0.0.1",))
    return ServerTls(issued.cert, issued.key, ca.cert)


# --- PostgreSQL --------------------------------------------------------------------------------


@pytest.fixture(scope="module", name="pg")
def _pg(ca: TestCA) -> Iterator[PrivatePostgres]:
    # Valid for the name "localhost" only: connecting to 127.0.0.1 is the wrong host name.
    issued = ca.issue("pg-server", dns=("localhost",))
    tls = ServerTls(issued.cert, issued.key, ca.cert)
    with PrivatePostgres(free_port(), tls=tls) as server:
        yield server


def pg_settings(pg: PrivatePostgres, **overrides: object) -> PostgresSettings:
    values: dict[str, object] = {
        "host": "localhost",
        "port": pg.port,
        "user": "postgres",
        "password": SecretStr("unused-trust-auth"),
        "db": "postgres",
        "pool_min_size": 1,
        "pool_max_size": 1,
    }
    return PostgresSettings.model_validate(values | overrides)


async def test_postgres_verify_full_with_the_right_ca_connects_over_tls(
    pg: PrivatePostgres, ca: TestCA
) -> None:
    """verify-full with POSTGRES_CA_FILE: the pool opens and its session is encrypted."""
    settings = pg_settings(pg, sslmode="verify-full", ca_file=str(ca.cert))

    db = await Database.connect(settings)
    try:
        con, _ = await db._lend(None)
        try:
            encrypted = await con.fetchval(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
        finally:
            await db._release(con)
    finally:
        await db.close()

    assert encrypted is True


async def test_postgres_wrong_ca_fails_naming_postgres_ca_file(
    pg: PrivatePostgres, wrong_ca: TestCA
) -> None:
    """A server certificate the configured CA did not sign: the error names POSTGRES_CA_FILE."""
    settings = pg_settings(pg, sslmode="verify-full", ca_file=str(wrong_ca.cert))

    with pytest.raises(TemporarilyUnavailable) as caught:
        await Database.connect(settings)

    message = str(caught.value)
    assert "POSTGRES_CA_FILE" in message
    assert "not signed by a trusted CA" in message
    assert "unused-trust-auth" not in message


async def test_postgres_wrong_host_name_fails_naming_postgres_host(
    pg: PrivatePostgres, ca: TestCA
) -> None:
    """The certificate names localhost, the client connects to 127.0.0.1: POSTGRES_HOST."""
    settings = pg_settings(pg, host="127.0.0.1", sslmode="verify-full", ca_file=str(ca.cert))

    with pytest.raises(TemporarilyUnavailable) as caught:
        await Database.connect(settings)

    assert "POSTGRES_HOST" in str(caught.value)
    assert "'127.0.0.1'" in str(caught.value)


async def test_postgres_verify_ca_accepts_another_host_name(
    pg: PrivatePostgres, ca: TestCA
) -> None:
    """verify-ca checks the signature only: the same wrong name connects (hence not in prod)."""
    settings = pg_settings(pg, host="127.0.0.1", sslmode="verify-ca", ca_file=str(ca.cert))

    db = await Database.connect(settings)
    try:
        await db.ping()
    finally:
        await db.close()


async def test_migrations_connect_with_the_dsns_tls_files_and_name_the_ca_setting(
    pg: PrivatePostgres, ca: TestCA, wrong_ca: TestCA
) -> None:
    """`svcinfra migrate` uses the same DSN: it verifies alike, and names POSTGRES_CA_FILE."""
    good = pg_settings(pg, sslmode="verify-full", ca_file=str(ca.cert)).dsn()
    bad = pg_settings(pg, sslmode="verify-full", ca_file=str(wrong_ca.cert)).dsn()

    conn = await migrate_connect(good.get_secret_value(), connect_timeout=10)
    await conn.close()
    with pytest.raises(DatabaseUnavailableError) as caught:
        await migrate_connect(bad.get_secret_value(), connect_timeout=10)

    assert "POSTGRES_CA_FILE" in str(caught.value)
    assert "unused-trust-auth" not in str(caught.value)


@pytest.fixture(scope="module", name="pg_mtls")
def _pg_mtls(ca: TestCA) -> Iterator[PrivatePostgres]:
    """A PostgreSQL that lets in only TCP clients with a certificate its CA signed."""
    issued = ca.issue("pg-mtls-server", dns=("localhost",))
    tls = ServerTls(issued.cert, issued.key, ca.cert, require_client_cert=True)
    with PrivatePostgres(free_port(), tls=tls) as server:
        yield server


async def test_postgres_requiring_a_client_certificate_refuses_one_without(
    pg_mtls: PrivatePostgres, ca: TestCA
) -> None:
    """`hostssl ... clientcert=verify-ca` and no POSTGRES_CERT_FILE: the error says to set it."""
    settings = pg_settings(pg_mtls, sslmode="verify-full", ca_file=str(ca.cert))

    with pytest.raises(TemporarilyUnavailable) as caught:
        await Database.connect(settings)

    assert "POSTGRES_CERT_FILE" in str(caught.value)


async def test_postgres_client_certificate_signed_by_the_ca_is_accepted(
    pg_mtls: PrivatePostgres, ca: TestCA
) -> None:
    """POSTGRES_CERT_FILE and POSTGRES_KEY_FILE (sslcert, sslkey in the DSN): it connects."""
    client = ca.issue("pg-client", client=True)
    settings = pg_settings(
        pg_mtls,
        sslmode="verify-full",
        ca_file=str(ca.cert),
        cert_file=str(client.cert),
        keyfile=str(client.key),
    )

    db = await Database.connect(settings)
    try:
        await db.ping()
    finally:
        await db.close()


# --- Redis -------------------------------------------------------------------------------------


@pytest.fixture(scope="module", name="redis_tls")
def _redis_tls(server_tls: ServerTls) -> Iterator[PrivateRedis]:
    with PrivateRedis(free_port(), tls=server_tls) as server:
        yield server


@pytest.fixture(scope="module", name="redis_mtls")
def _redis_mtls(server_tls: ServerTls) -> Iterator[PrivateRedis]:
    """A Redis that requires a client certificate signed by the CA (`--tls-auth-clients yes`)."""
    tls = ServerTls(server_tls.cert, server_tls.key, server_tls.ca, require_client_cert=True)
    with PrivateRedis(free_port(), tls=tls) as server:
        yield server


def redis_settings(server: PrivateRedis, **overrides: object) -> RedisSettings:
    values: dict[str, object] = {
        "host": server.host,
        "port": server.port,
        "tls": True,
        "connect_timeout": 5,
        "socket_timeout": 5,
        "retries": 0,
    }
    return RedisSettings.model_validate(values | overrides)


async def roundtrip(settings: RedisSettings) -> bytes | None:
    """SET and GET one key through svcinfra's cache client (its pool, its connection class)."""
    client = create_cache_client(settings, name="tls-test")
    try:
        key = f"tls:{uuid.uuid4().hex}"
        await client.redis.set(key, b"over tls", ex=60)
        value: bytes | None = await client.redis.get(key)
        return value
    finally:
        await client.aclose()


async def test_redis_rediss_with_the_right_ca_works(redis_tls: PrivateRedis, ca: TestCA) -> None:
    """REDIS_TLS with REDIS_CA_FILE: a write and a read through the cache client's pool."""
    assert redis_tls.url.startswith("rediss://")

    assert await roundtrip(redis_settings(redis_tls, ca_file=str(ca.cert))) == b"over tls"


async def test_redis_server_name_setting_is_the_name_checked(
    redis_tls: PrivateRedis, ca: TestCA
) -> None:
    """REDIS_TLS_SERVER_NAME=localhost while connecting to 127.0.0.1: the certificate's name."""
    settings = redis_settings(redis_tls, ca_file=str(ca.cert), tls_server_name="localhost")

    assert await roundtrip(settings) == b"over tls"


async def test_redis_wrong_ca_fails_naming_redis_ca_file(
    redis_tls: PrivateRedis, wrong_ca: TestCA
) -> None:
    """The wrong CA: the connection error names REDIS_CA_FILE and the file in use."""
    with pytest.raises(RedisConnectionError) as caught:
        await roundtrip(redis_settings(redis_tls, ca_file=str(wrong_ca.cert)))

    assert "REDIS_CA_FILE" in str(caught.value)
    assert str(wrong_ca.cert) in str(caught.value)


async def test_redis_wrong_server_name_fails_naming_redis_tls_server_name(
    redis_tls: PrivateRedis, ca: TestCA
) -> None:
    """A name the certificate does not carry: the error names REDIS_TLS_SERVER_NAME."""
    settings = redis_settings(redis_tls, ca_file=str(ca.cert), tls_server_name="cache.example")

    with pytest.raises(RedisConnectionError) as caught:
        await roundtrip(settings)

    assert "REDIS_TLS_SERVER_NAME" in str(caught.value)
    assert "'cache.example'" in str(caught.value)


async def test_redis_requiring_a_client_certificate_refuses_one_without(
    redis_mtls: PrivateRedis, ca: TestCA
) -> None:
    """--tls-auth-clients yes and no REDIS_CERT_FILE: the error says to set it."""
    with pytest.raises(RedisConnectionError) as caught:
        await roundtrip(redis_settings(redis_mtls, ca_file=str(ca.cert)))

    assert "REDIS_CERT_FILE" in str(caught.value)


async def test_redis_requiring_a_client_certificate_accepts_the_ca_signed_one(
    redis_mtls: PrivateRedis, ca: TestCA
) -> None:
    """REDIS_CERT_FILE and REDIS_KEY_FILE signed by the server's client CA: it works."""
    client = ca.issue("redis-client", client=True)
    settings = redis_settings(
        redis_mtls, ca_file=str(ca.cert), cert_file=str(client.cert), keyfile=str(client.key)
    )

    assert await roundtrip(settings) == b"over tls"


async def test_redis_client_certificate_of_another_ca_is_refused(
    redis_mtls: PrivateRedis, ca: TestCA, wrong_ca: TestCA
) -> None:
    """A client certificate the server's CA did not sign: the error names REDIS_CERT_FILE."""
    client = wrong_ca.issue("stranger", client=True)
    settings = redis_settings(
        redis_mtls, ca_file=str(ca.cert), cert_file=str(client.cert), keyfile=str(client.key)
    )

    with pytest.raises(RedisConnectionError) as caught:
        await roundtrip(settings)

    assert "REDIS_CERT_FILE" in str(caught.value)


def test_redis_missing_ca_file_is_a_config_error_naming_the_variable(
    redis_tls: PrivateRedis, tmp_path: Path
) -> None:
    """A CA file that is not there fails when the client is built, before any connection."""
    missing = tmp_path / "nowhere.pem"

    with pytest.raises(ConfigError) as caught:
        create_cache_client(redis_settings(redis_tls, ca_file=str(missing)))

    assert caught.value.problems[0].variable == "REDIS_CA_FILE"
    assert str(missing) in caught.value.problems[0].message


# --- RabbitMQ ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", name="rabbit")
def _rabbit(
    run_id: str, server_tls: ServerTls, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[PrivateRabbitNode]:
    base = tmp_path_factory.mktemp("rabbit")
    with PrivateRabbitNode(
        f"svcinfra-tls-{run_id}",
        free_port(),
        free_port(),
        base,
        ctl_dist_port=free_port(),
        tls=server_tls,
        tls_port=free_port(),
    ) as node:
        yield node


def amqp_settings(node: PrivateRabbitNode, **overrides: object) -> AmqpSettings:
    values: dict[str, object] = {
        "host": "127.0.0.1",
        "port": node.tls_port,
        "user": "guest",
        "password": SecretStr("guest"),
        "tls": True,
    }
    return AmqpSettings.model_validate(values | overrides)


async def declare_and_count(url: str, *, through_svcinfra: bool = True) -> int:
    """Open a connection, declare a private queue, publish one message into it, count it."""
    connect = connect_amqp if through_svcinfra else aio_pika.connect
    connection = await connect(url, timeout=10)
    async with connection:
        channel = await connection.channel()
        queue = await channel.declare_queue(f"tls-{uuid.uuid4().hex}", exclusive=True)
        await channel.default_exchange.publish(aio_pika.Message(b"over tls"), queue.name)
        declared = await channel.declare_queue(queue.name, passive=True)
        count: int = declared.declaration_result.message_count
        return count


async def test_amqps_with_the_right_ca_works(rabbit: PrivateRabbitNode, ca: TestCA) -> None:
    """RABBITMQ_TLS with RABBITMQ_CA_FILE: amqps:// to the ssl_options listener, a publish."""
    url = amqp_settings(rabbit, ca_file=str(ca.cert)).url().get_secret_value()

    assert url.startswith("amqps://")
    assert await declare_and_count(url) == 1


async def test_amqps_url_alone_verifies_with_aiormqs_own_keywords(
    rabbit: PrivateRabbitNode, ca: TestCA
) -> None:
    """The URL carries aiormq's cafile keyword: plain aio_pika.connect(url) verifies too."""
    url = amqp_settings(rabbit, ca_file=str(ca.cert)).url().get_secret_value()

    assert await declare_and_count(url, through_svcinfra=False) == 1


async def test_amqps_server_name_setting_is_the_name_checked(
    rabbit: PrivateRabbitNode, ca: TestCA
) -> None:
    """RABBITMQ_TLS_SERVER_NAME=localhost while connecting to 127.0.0.1: it connects."""
    settings = amqp_settings(rabbit, ca_file=str(ca.cert), tls_server_name="localhost")

    assert await declare_and_count(settings.url().get_secret_value()) == 1


async def test_amqps_wrong_ca_fails_naming_rabbitmq_ca_file(
    rabbit: PrivateRabbitNode, wrong_ca: TestCA
) -> None:
    """The wrong CA: AmqpTlsError names RABBITMQ_CA_FILE, never the password."""
    url = amqp_settings(rabbit, ca_file=str(wrong_ca.cert)).url().get_secret_value()

    with pytest.raises(AmqpTlsError) as caught:
        await declare_and_count(url)

    assert "RABBITMQ_CA_FILE" in str(caught.value)
    assert "guest" not in str(caught.value)


async def test_amqps_wrong_server_name_fails_naming_rabbitmq_tls_server_name(
    rabbit: PrivateRabbitNode, ca: TestCA
) -> None:
    """A name the certificate does not carry: the error names RABBITMQ_TLS_SERVER_NAME."""
    settings = amqp_settings(rabbit, ca_file=str(ca.cert), tls_server_name="mq.example")

    with pytest.raises(AmqpTlsError) as caught:
        await declare_and_count(settings.url().get_secret_value())

    assert "RABBITMQ_TLS_SERVER_NAME" in str(caught.value)
    assert "'mq.example'" in str(caught.value)


async def test_amqps_to_the_plain_listener_names_the_port(
    rabbit: PrivateRabbitNode, ca: TestCA
) -> None:
    """TLS against the plain AMQP port: the error says the port does not speak TLS."""
    settings = amqp_settings(rabbit, port=rabbit.amqp_port, ca_file=str(ca.cert))

    with pytest.raises(AmqpTlsError) as caught:
        await declare_and_count(settings.url().get_secret_value())

    assert "RABBITMQ_PORT" in str(caught.value)
