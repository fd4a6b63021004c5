"""The mail API adapter against a real loopback HTTP server (`UpstreamServer`): the request it
sends, and how each answer of the API maps to the domain (EX-2..EX-5)."""

from __future__ import annotations

import dataclasses
import secrets

import notifkit
import pytest
from notifications.clients.mail import MailApi, MailApiMailer
from notifications.config import MailApiSettings
from notifications.domain.entity import WelcomeMail
from notifications.domain.errors import (
    AddressRejectedError,
    MailRequestRefusedError,
    MailUnavailableError,
)

from svcinfra.httpclient.testing import Reply, UpstreamServer, unreachable_url

MAIL = WelcomeMail(
    idempotency_key="welcome-m-1",
    to="ada@example.com",
    subject="Welcome, Ada!",
    text="Hello Ada",
    tags={"kind": "welcome"},
)
PROVIDER_ID = "55555555-5555-4555-8555-555555555555"


def settings(url: str, key: str, **change: object) -> MailApiSettings:
    values: dict[str, object] = {
        "base_url": url,
        "api_key": key,
        "connect_timeout": 0.3,
        "read_timeout": 0.3,
        "write_timeout": 0.3,
        "pool_timeout": 0.3,
        "deadline": 1.5,
        "retry_attempts": 3,
        "retry_backoff_initial": 0.01,
        "retry_backoff_max": 0.02,
        "retry_after_max": 1,
    } | change
    return MailApiSettings.model_validate(values)


@pytest.fixture
async def mail():
    async with UpstreamServer(default=notifkit.accepted(PROVIDER_ID)) as server:
        key = secrets.token_urlsafe(24)
        async with MailApi(settings(server.url, key)) as api:
            yield server, MailApiMailer(api), key


async def test_the_request_carries_the_key_the_bearer_token_and_the_mail(mail) -> None:
    """POST /v1/messages with Authorization, Idempotency-Key and the JSON body of the API."""
    server, mailer, key = mail
    accepted = await mailer.send(MAIL)
    [request] = server.requests
    assert (request.method, request.path) == ("POST", "/v1/messages")
    assert request.headers["authorization"] == f"Bearer {key}"
    assert request.headers["idempotency-key"] == "welcome-m-1"
    assert request.json() == {
        "to": "ada@example.com",
        "subject": "Welcome, Ada!",
        "text": "Hello Ada",
        "tags": {"kind": "welcome"},
    }
    assert accepted.provider_message_id == PROVIDER_ID
    assert accepted.accepted_at.isoformat() == "2026-11-26T08:00:01+00:00"
    assert accepted.replayed is False


async def test_a_replay_is_recognised(mail) -> None:
    """200 with Idempotent-Replayed: the first answer, flagged as a replay."""
    server, mailer, _ = mail
    server.script(notifkit.accepted(PROVIDER_ID, status=200, **{"Idempotent-Replayed": "true"}))
    accepted = await mailer.send(MAIL)
    assert accepted.replayed is True
    assert accepted.provider_message_id == PROVIDER_ID


@pytest.mark.parametrize(
    ("replies", "error", "requests"),
    [
        ([Reply.json({"error": "unavailable"}, status=503)] * 3, MailUnavailableError, 3),
        (
            [Reply.json({"error": "rate_limited"}, status=429, **{"Retry-After": "0"})] * 3,
            MailUnavailableError,
            3,
        ),
        ([Reply(reset=True)] * 3, MailUnavailableError, 3),
        (
            [Reply.json({"error": "idempotency_key_in_use"}, status=409, **{"Retry-After": "1"})],
            MailUnavailableError,
            1,
        ),
        (
            [Reply.json({"error": "address_rejected", "detail": "bounced"}, status=422)],
            AddressRejectedError,
            1,
        ),
        ([Reply.json({"error": "idempotency_key_reused"}, status=409)], MailRequestRefusedError, 1),
        ([Reply.json({"error": "unauthorized"}, status=401)], MailRequestRefusedError, 1),
        ([Reply.json({"error": "invalid_request"}, status=400)], MailRequestRefusedError, 1),
        ([Reply.json({"id": PROVIDER_ID}, status=202)], MailRequestRefusedError, 1),
        ([Reply.json({"id": "", "accepted_at": "x"}, status=202)], MailRequestRefusedError, 1),
    ],
    ids=[
        "503", "429", "connection-reset", "key-in-flight", "address-rejected", "key-reused",
        "unauthorized", "invalid-request", "acceptance-without-time", "malformed-acceptance",
    ],
)  # fmt: skip
async def test_each_answer_maps_to_its_domain_error(mail, replies, error, requests) -> None:
    """Temporary answers are retried in the call and then raised as temporary; permanent ones
    are raised at once, never retried (EX-3, EX-4)."""
    server, mailer, _ = mail
    server.script(*replies)
    with pytest.raises(error) as raised:
        await mailer.send(MAIL)
    assert len(server.requests) == requests
    assert type(raised.value).temporary is (error is MailUnavailableError)
    assert {r.headers["idempotency-key"] for r in server.requests} == {"welcome-m-1"}


async def test_a_rejection_names_the_cause_without_the_address(mail) -> None:
    """The reason keeps the API's code and detail, with any address in it masked (EX-5)."""
    server, mailer, _ = mail
    server.script(
        Reply.json(
            {"error": "address_rejected", "detail": "mailbox <ada@example.com> is disabled"},
            status=422,
        )
    )
    with pytest.raises(AddressRejectedError) as raised:
        await mailer.send(MAIL)
    assert "address_rejected" in raised.value.reason
    assert "mailbox <<address>> is disabled" in raised.value.reason
    assert "ada@example.com" not in raised.value.reason


async def test_a_slow_api_times_out_as_a_temporary_failure(mail) -> None:
    """Answers slower than the read timeout end the call within its deadline (EX-2)."""
    server, mailer, _ = mail
    server.default = dataclasses.replace(notifkit.accepted(PROVIDER_ID), delay=5.0)
    with pytest.raises(MailUnavailableError) as raised:
        await mailer.send(MAIL)
    assert "timeout" in raised.value.reason or "deadline" in raised.value.reason


async def test_a_dead_host_is_a_temporary_failure() -> None:
    """Connects that hang (a dead host) time out within the deadline: temporary (EX-2)."""
    async with unreachable_url() as url, MailApi(settings(url, "k")) as api:
        with pytest.raises(MailUnavailableError) as raised:
            await MailApiMailer(api).send(MAIL)
    assert "connect" in raised.value.reason or "deadline" in raised.value.reason


async def test_a_closed_port_is_a_temporary_failure() -> None:
    """Nothing listening (connection refused): retried, then temporary."""
    port = notifkit.free_port()
    async with MailApi(settings(f"http://127.0.0.1:{port}", "k")) as api:
        with pytest.raises(MailUnavailableError):
            await MailApiMailer(api).send(MAIL)


def test_the_settings_need_an_api_key_and_mask_it() -> None:
    """No key is a configuration error; the key never shows in the settings' repr (CF-3)."""
    with pytest.raises(ValueError, match="api_key"):
        MailApiSettings.model_validate({"base_url": "http://127.0.0.1:1"})
    key = secrets.token_urlsafe(24)
    assert key not in repr(settings("http://127.0.0.1:1", key))
