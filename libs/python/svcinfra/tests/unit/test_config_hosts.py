"""Host lists in POSTGRES_HOST and RABBITMQ_HOST: a cluster's nodes; one host stays the default."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from svcinfra.config import AmqpSettings, PostgresSettings, host_list
from svcinfra.messaging._connect import amqp_node_urls


def postgres(host: str, **more: object) -> PostgresSettings:
    values = {"host": host, "user": "users", "password": SecretStr("pw"), "db": "users"}
    return PostgresSettings.model_validate(values | more)


def amqp(host: str, **more: object) -> AmqpSettings:
    return AmqpSettings.model_validate({"host": host, "user": "u", "password": "pw"} | more)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("pg", (("pg", 5432),)),
        ("pg-0,pg-1", (("pg-0", 5432), ("pg-1", 5432))),
        (" pg-0 , pg-1:6432 ", (("pg-0", 5432), ("pg-1", 6432))),
        ("[::1]:6432,::1,[fe80::1]", (("::1", 6432), ("::1", 5432), ("fe80::1", 5432))),
    ],
    ids=["one", "two", "own-port-and-spaces", "ipv6"],
)
def test_a_host_list_parses_into_hosts_and_ports(text: str, expected: tuple[object]) -> None:
    """Entries are `host` (the section's port), `host:port`, `[v6]`, `[v6]:port` or a bare v6."""
    assert host_list(text, 5432) == expected


@pytest.mark.parametrize("text", ["pg,", "pg:0", "pg:x", ",pg", "pg:70000"])
def test_a_malformed_host_list_is_refused(text: str) -> None:
    """An empty entry or a bad port is a configuration error naming the entry."""
    with pytest.raises(ValidationError, match="host"):
        postgres(text)


def test_one_host_gives_the_same_dsn_as_before() -> None:
    """Single-host stays the default: no target_session_attrs, the host and port as before."""
    dsn = postgres("pg.internal", port=6432, sslmode="disable").dsn().get_secret_value()
    assert dsn == "postgresql://users:pw@pg.internal:6432/users?sslmode=disable"


def test_a_primary_and_standbys_give_a_multi_host_read_write_dsn() -> None:
    """Several hosts: libpq's multi-host URL, each connection keeps the one that accepts writes."""
    dsn = postgres("pg-0,pg-1:6432", sslmode="disable").dsn().get_secret_value()
    assert dsn == (
        "postgresql://users:pw@pg-0:5432,pg-1:6432/users"
        "?sslmode=disable&target_session_attrs=read-write"
    )


def test_a_cluster_url_names_every_node_and_splits_into_one_url_per_node() -> None:
    """RABBITMQ_HOST with three nodes: one URL with a host list, split by `connect_amqp`."""
    url = amqp("rabbit-0,rabbit-1,rabbit-2:5673", heartbeat=10).url().get_secret_value()
    assert url.startswith("amqp://u:pw@rabbit-0:5672,rabbit-1:5672,rabbit-2:5673/%2F?")
    assert amqp_node_urls(url) == [
        url.replace("rabbit-0:5672,rabbit-1:5672,rabbit-2:5673", node)
        for node in ("rabbit-0:5672", "rabbit-1:5672", "rabbit-2:5673")
    ]


def test_one_broker_host_keeps_one_url() -> None:
    """A single RABBITMQ_HOST is one URL, unchanged by the split."""
    url = amqp("rabbit").url().get_secret_value()
    assert url.startswith("amqp://u:pw@rabbit:5672/%2F?")
    assert amqp_node_urls(url) == [url]


def test_tls_keywords_travel_with_every_node_url() -> None:
    """Each node's URL keeps the TLS keywords, so each is verified alike (issue 17)."""
    url = amqp("a,b", tls=True, ca_file="/ca.pem", port=5671).url().get_secret_value()
    nodes = amqp_node_urls(url)
    assert [n.split("@")[1].split("/")[0] for n in nodes] == ["a:5671", "b:5671"]
    assert all(n.startswith("amqps://") and "cafile=/ca.pem" in n for n in nodes)
