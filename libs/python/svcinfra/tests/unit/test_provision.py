"""svcinfra.provision without servers: grants from contracts, verifiers, refusals (CF-4, issue 17).

The servers' side (a role logging in with its verifier, a broker user with its hash and grant,
the statement log) is proven by tests/deploy/test_scripts.py and tests/e2e/test_least_privilege.py
at the repository's root, which run the deploy init containers' commands.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import http.server
import re
import threading
from typing import TYPE_CHECKING, Any

import pytest

from svcinfra.messaging.contract import load_package_contract
from svcinfra.provision import (
    Grant,
    ManagementApi,
    ProvisionError,
    apply_definitions,
    broker_definitions,
    ensure_postgres,
    exact_pattern,
    grant_for_contract,
    rabbitmq_password_hash,
    scram_verifier,
)

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

WAIT = r"notifications\.user\-registered\.retry\.[0-9]+(?:ms|s|m|h)"


def test_a_publisher_gets_its_exchange_and_nothing_to_read() -> None:
    """users publishes on users.events and consumes nothing."""
    grant = grant_for_contract(load_package_contract("users"))
    assert grant == Grant(r"^(?:users\.events)$", r"^(?:users\.events)$", "^$")


def test_a_prefix_renames_every_name_but_the_default_exchange() -> None:
    """A dev slot's topology prefix (CONSUMER_TOPOLOGY_PREFIX) is in every name it declares."""
    grant = grant_for_contract(load_package_contract("notifications"), prefix="slot3")
    assert re.fullmatch(grant.write, "amq.default")
    assert re.fullmatch(grant.read, "slot3.users.events")
    assert re.fullmatch(grant.read, "slot3.notifications.user-registered.retry.200ms")
    for name in ("users.events", "notifications.user-registered", "slot3.users.events.x"):
        assert not re.fullmatch(grant.read, name), name
    assert grant_for_contract(load_package_contract("notifications"), prefix="") == (
        grant_for_contract(load_package_contract("notifications"))
    )


def test_retry_tiers_are_a_pattern_of_the_work_queue_only() -> None:
    """Any delay (a deployment may set others), but only behind the consumer's own queue."""
    grant = grant_for_contract(load_package_contract("notifications"))
    assert WAIT in grant.configure
    for name in (
        "notifications.user-registered.retry.1s",
        "notifications.user-registered.retry.90m",
    ):
        assert re.fullmatch(grant.configure, name)
    for name in ("notifications.user-registered.retry.", "notifications.user-registered.retry.x1s"):
        assert not re.fullmatch(grant.configure, name)


@pytest.mark.parametrize(
    "names",
    [["a.b"], ["a-b", "a+b"], ["q(1)", "q[2]", "q*", "q?", "q|r", "q^$", "q\\s"], ["é.ü"]],
)
def test_exact_patterns_match_their_names_and_no_others(names: list[str]) -> None:
    """Escaped metacharacters: each name matches itself, never a neighbour or a variation."""
    pattern = re.compile(exact_pattern(names))
    for name in names:
        assert pattern.search(name)
        for variant in (name + "x", "x" + name, name.replace(".", "x"), name[:-1]):
            if variant not in names:
                assert not pattern.search(variant), variant


def test_no_names_is_no_permission_and_the_default_exchange_is_amq_default() -> None:
    assert exact_pattern([]) == "^$"
    assert exact_pattern(["", "x"]) == r"^(?:amq\.default|x)$"


def test_the_scram_verifier_is_libpqs_format_with_a_fresh_salt() -> None:
    """`SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>`, salted anew each time (RFC 5802)."""
    first, second = scram_verifier("pw"), scram_verifier("pw")
    assert re.fullmatch(
        r"SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}", first
    )
    assert first != second
    assert scram_verifier("pw", salt=b"s" * 16) == scram_verifier("pw", salt=b"s" * 16)
    assert "pw" not in first.split("$", 1)[1]


def test_the_rabbitmq_hash_is_salt_then_sha256_of_salt_and_password() -> None:
    """rabbit_password_hashing_sha256: base64(salt ++ sha256(salt ++ password)), 4-byte salt."""
    raw = base64.b64decode(rabbitmq_password_hash("pässword"))
    salt, digest = raw[:4], raw[4:]
    assert digest == hashlib.sha256(salt + "pässword".encode()).digest()


def test_the_definitions_hold_the_hash_and_refuse_empty_values() -> None:
    grant = Grant("^a$", "^b$", "^c$")
    document = broker_definitions("svc", "secret-pw", "/", grant)
    assert "secret-pw" not in repr(document)
    assert document["permissions"] == [
        {"user": "svc", "vhost": "/", "configure": "^a$", "write": "^b$", "read": "^c$"}
    ]
    with pytest.raises(ProvisionError, match="a name, a password and a vhost"):
        broker_definitions("svc", "", "/", grant)


@pytest.mark.parametrize(("role", "database"), [('x"; DROP ROLE postgres; --', "x"), ("x", "X-Y")])
def test_ensure_postgres_refuses_names_that_are_not_plain_identifiers(
    role: str, database: str
) -> None:
    """Checked before connecting: the refused name is in the message."""
    bad = role if role != "x" else database
    with pytest.raises(ProvisionError, match="not a plain lowercase identifier") as refused:
        asyncio.run(ensure_postgres(role, database, "pw", dsn="postgresql://nobody@127.0.0.1:1/x"))
    assert repr(bad) in str(refused.value)


class _Admin:
    """A broker whose import keeps only what `keep` says (a grant that did not take)."""

    def __init__(self, keep: Grant | None) -> None:
        self.keep = keep
        self.imported: list[Mapping[str, Any]] = []

    def import_definitions(self, document: Mapping[str, Any]) -> None:
        self.imported.append(document)

    def permissions(self, user: str) -> dict[str, Grant]:
        del user  # one user per test
        return {} if self.keep is None else {"/": self.keep}


def test_apply_definitions_checks_the_grant_took_exactly() -> None:
    grant = Grant("^a$", "^b$", "^c$")
    document = broker_definitions("svc", "pw", "/", grant)
    apply_definitions(_Admin(grant), document, settle=0)
    for kept in (None, Grant(".*", "^b$", "^c$")):
        with pytest.raises(ProvisionError, match="the broker's permissions are"):
            apply_definitions(_Admin(kept), document, settle=0.3)


class _Refusing(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(401)
        body = b'{"error":"not_authorised","reason":"Login failed"}'
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def refusing_api() -> Iterator[str]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()
    thread.join()


def test_the_management_api_refusal_is_named(refusing_api: str) -> None:
    api = ManagementApi(refusing_api, "admin", "wrong")
    with pytest.raises(ProvisionError, match=r"POST /definitions: 401 .*Login failed"):
        api.import_definitions({"users": []})
    assert "wrong" not in repr(api)


def test_an_unreachable_management_api_is_named() -> None:
    api = ManagementApi("http://127.0.0.1:1/api", "admin", "pw")
    with pytest.raises(ProvisionError, match=r"management API at http://127\.0\.0\.1:1/api"):
        api.permissions("svc")


def test_create_rabbitmq_user_tries_each_node_of_a_host_list(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """RABBITMQ_HOST with two nodes: the management API of each is tried in turn; when none
    answers, the first is named as skipped and the last one's error ends the run (issue 20)."""
    from click.testing import CliRunner  # noqa: PLC0415  (only this test drives the CLI)

    from svcinfra.provision._cli import provision  # noqa: PLC0415

    for name, value in {
        "ENV_PREFIX": "USERS_", "RABBITMQ_ADMIN_USER": "admin", "RABBITMQ_ADMIN_PASSWORD": "pw",
        "USERS_RABBITMQ_USER": "users", "USERS_RABBITMQ_PASSWORD": "users-pw",
        "RABBITMQ_HOST": "127.0.0.2,127.0.0.1", "RABBITMQ_MANAGEMENT_PORT": "1",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    done = CliRunner().invoke(provision, ["rabbitmq", "--contract", "users"])
    assert done.exit_code == 1
    assert "management API at http://127.0.0.2:1/api" in done.output
    assert "trying the next node" in done.output
    assert "create-rabbitmq-user: management API at http://127.0.0.1:1/api" in done.output
