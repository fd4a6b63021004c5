"""Every status and fault of the API, through the real ASGI app (in-process, no socket)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fake_mail.domain import FaultInjector, Mailbox, MailService
from fake_mail.transport.http import ConnectionDroppedError, build_api

from svcinfra.testing import metric_value, until

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

BODY = {"to": "ada@example.com", "subject": "Welcome", "text": "Hello, Ada.", "tags": {"k": "v"}}


@pytest.fixture
def api_key() -> str:
    return secrets.token_urlsafe(24)


@pytest.fixture
def service() -> MailService:
    return MailService(Mailbox(), FaultInjector())


@pytest.fixture
async def client(service: MailService, api_key: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_api(service, api_key=api_key))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://fake-mail",
        headers={"Authorization": f"Bearer {api_key}"},
    ) as client:
        yield client


def _key() -> str:
    return f"test-{uuid.uuid4()}"


async def _post(
    client: httpx.AsyncClient, key: str | None = None, body: Any = BODY
) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return await client.post("/v1/messages", json=body, headers=headers)


async def _faults(client: httpx.AsyncClient, **faults: Any) -> None:
    response = await client.put("/v1/faults", json=faults)
    assert response.status_code == 200, response.text


async def _record(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/v1/messages", params=params)
    assert response.status_code == 200
    return response.json()["messages"]


async def test_accepts_then_replays_the_same_key(client: httpx.AsyncClient) -> None:
    """202 the first time; the same key and body get 200 with the same body, recorded once."""
    accepted_before = metric_value("fake_mail_messages_accepted_total")
    replayed_before = metric_value("fake_mail_messages_replayed_total")
    key = _key()
    first = await _post(client, key)
    assert first.status_code == 202
    assert first.json()["to"] == BODY["to"]
    assert first.json()["accepted_at"].endswith("Z")
    uuid.UUID(first.json()["id"])
    second = await _post(client, key)
    assert second.status_code == 200
    assert second.headers["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert "Idempotent-Replayed" not in first.headers
    record = await _record(client)
    assert record == [
        {
            **BODY,
            "id": first.json()["id"],
            "idempotency_key": key,
            "accepted_at": first.json()["accepted_at"],
        }
    ]
    assert metric_value("fake_mail_messages_accepted_total") == accepted_before + 1
    assert metric_value("fake_mail_messages_replayed_total") == replayed_before + 1


async def test_a_reused_key_with_another_body_is_refused(client: httpx.AsyncClient) -> None:
    """409 idempotency_key_reused: the key already stands for another message."""
    key = _key()
    assert (await _post(client, key)).status_code == 202
    response = await _post(client, key, {**BODY, "subject": "Another"})
    assert response.status_code == 409
    assert response.json()["error"] == "idempotency_key_reused"
    assert key in response.json()["detail"]
    assert len(await _record(client)) == 1


async def test_a_key_in_flight_answers_409_with_retry_after(
    client: httpx.AsyncClient, service: MailService
) -> None:
    """A second request while the first one with its key is processed gets 409 + Retry-After."""
    await _faults(client, latency_ms=60_000)
    key = _key()
    first = asyncio.create_task(_post(client, key))
    await until(lambda: key in service._mailbox._locks)
    second = await _post(client, key)
    assert second.status_code == 409
    assert second.json() == {"error": "idempotency_key_in_use"}
    assert int(second.headers["Retry-After"]) >= 1
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first
    assert await _record(client) == []


async def test_concurrent_requests_with_one_key_record_one_message(
    client: httpx.AsyncClient,
) -> None:
    """Many concurrent POSTs with one key: one 202, the others 409 in use or 200 replays."""
    await _faults(client, latency_ms=20)
    key = _key()
    responses = await asyncio.gather(*(_post(client, key) for _ in range(20)))
    statuses = [r.status_code for r in responses]
    assert statuses.count(202) == 1
    assert set(statuses) <= {202, 200, 409}
    assert len(await _record(client)) == 1


@pytest.mark.parametrize(
    ("headers", "body", "field"),
    [
        ({}, BODY, "Idempotency-Key"),
        ({"Idempotency-Key": "k" * 256}, BODY, "Idempotency-Key"),
        ({"Idempotency-Key": "caf\u00e9".encode()}, BODY, "Idempotency-Key"),
        ({"Idempotency-Key": "ok"}, b"{not json", "body"),
        ({"Idempotency-Key": "ok"}, {**BODY, "to": "not-an-address"}, "to"),
        ({"Idempotency-Key": "ok"}, {k: v for k, v in BODY.items() if k != "subject"}, "subject"),
        ({"Idempotency-Key": "ok"}, {**BODY, "text": 5}, "text"),
        ({"Idempotency-Key": "ok"}, {**BODY, "tags": {"k": 1}}, "tags.k"),
        ({"Idempotency-Key": "ok"}, {**BODY, "cc": "x@example.com"}, "cc"),
        ({"Idempotency-Key": "ok"}, [BODY], "body"),
    ],
    ids=[
        "no-key",
        "long-key",
        "non-ascii-key",
        "malformed-json",
        "bad-address",
        "no-subject",
        "text-not-string",
        "tag-not-string",
        "unknown-field",
        "not-an-object",
    ],
)
async def test_invalid_requests_name_the_field(
    client: httpx.AsyncClient, headers: dict[str, Any], body: Any, field: str
) -> None:
    """400 invalid_request, the detail naming what is wrong; nothing is recorded."""
    if isinstance(body, bytes):
        response = await client.post("/v1/messages", content=body, headers=headers)
    else:
        response = await client.post("/v1/messages", json=body, headers=headers)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    assert (
        response.json()["detail"].startswith(f"{field}:")
        or f"{field}:" in response.json()["detail"]
    )
    assert await _record(client) == []


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/messages"),
        ("GET", "/v1/messages"),
        ("DELETE", "/v1/messages"),
        ("GET", "/v1/faults"),
        ("PUT", "/v1/faults"),
        ("DELETE", "/v1/faults"),
    ],
)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", "Basic x"], ids=["none", "wrong", "scheme"]
)
async def test_every_endpoint_needs_the_key(
    client: httpx.AsyncClient, method: str, path: str, authorization: str | None
) -> None:
    """401 unauthorized without the right bearer key, also on the management endpoints."""
    headers = {"Idempotency-Key": _key()}
    request = client.build_request(
        method, path, json=BODY if method in {"POST", "PUT"} else None, headers=headers
    )
    del request.headers["Authorization"]
    if authorization is not None:
        request.headers["Authorization"] = authorization
    response = await client.send(request)
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}


@pytest.mark.parametrize(
    ("reject", "to"),
    [(["ada@example.com"], "ada@example.com"), (["@example.com"], "ADA@example.com")],
    ids=["address", "domain"],
)
async def test_rejected_addresses_get_422(
    client: httpx.AsyncClient, reject: list[str], to: str
) -> None:
    """422 address_rejected with the reason; not recorded; the metric counts it."""
    before = metric_value("fake_mail_messages_rejected_total")
    await _faults(client, reject=reject)
    response = await _post(client, _key(), {**BODY, "to": to})
    assert response.status_code == 422
    assert response.json()["error"] == "address_rejected"
    assert "reject list" in response.json()["detail"]
    assert await _record(client) == []
    assert metric_value("fake_mail_messages_rejected_total") == before + 1
    other = await _post(client, _key(), {**BODY, "to": "bob@elsewhere.test"})
    assert other.status_code == 202


async def test_rate_limit_with_retry_after_then_the_retry_succeeds(
    client: httpx.AsyncClient,
) -> None:
    """A scripted 429 carries Retry-After and records nothing; the retry with the key is 202."""
    before = metric_value("fake_mail_faults_injected_total", kind="rate_limit")
    await _faults(
        client, retry_after=3, script=[{"status": 429}, {"status": 429, "retry_after": 1}]
    )
    key = _key()
    first, second, third = [await _post(client, key) for _ in range(3)]
    assert (first.status_code, first.headers["Retry-After"], first.json()) == (
        429,
        "3",
        {"error": "rate_limited"},
    )
    assert (second.status_code, second.headers["Retry-After"]) == (429, "1")
    assert third.status_code == 202
    assert len(await _record(client)) == 1
    assert metric_value("fake_mail_faults_injected_total", kind="rate_limit") == before + 2


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_scripted_server_errors(client: httpx.AsyncClient, status: int) -> None:
    """A scripted 5xx answers {"error": "unavailable"} and records nothing."""
    await _faults(client, script=[{"status": status}])
    key = _key()
    response = await _post(client, key)
    assert (response.status_code, response.json()) == (status, {"error": "unavailable"})
    assert await _record(client) == []
    assert (await _post(client, key)).status_code == 202


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_error_ratio_uses_error_status(client: httpx.AsyncClient, status: int) -> None:
    """error_ratio 1 answers every POST with error_status; error_ratio 0 again lets them in."""
    before = metric_value("fake_mail_faults_injected_total", kind="error")
    await _faults(client, error_ratio=1.0, error_status=status)
    responses = [await _post(client, _key()) for _ in range(3)]
    assert [r.status_code for r in responses] == [status] * 3
    assert metric_value("fake_mail_faults_injected_total", kind="error") == before + 3
    await _faults(client, error_ratio=0.0)
    assert (await _post(client, _key())).status_code == 202


async def test_rate_limit_ratio(client: httpx.AsyncClient) -> None:
    """rate_limit_ratio 1 answers every POST 429 with the configured Retry-After."""
    await _faults(client, rate_limit_ratio=1.0, retry_after=5)
    response = await _post(client, _key())
    assert (response.status_code, response.headers["Retry-After"]) == (429, "5")


async def test_seeded_ratios_are_reproducible(client: httpx.AsyncClient) -> None:
    """The same seed gives the same sequence of statuses after PUT /v1/faults."""
    faults = {"error_ratio": 0.5, "rate_limit_ratio": 0.3, "seed": 11}
    runs = []
    for _ in range(2):
        await _faults(client, **faults)
        runs.append([(await _post(client, _key())).status_code for _ in range(30)])
    assert runs[0] == runs[1]
    assert {202, 429, 503} <= set(runs[0])


async def test_crash_after_accept_records_then_the_retry_is_replayed(
    client: httpx.AsyncClient,
) -> None:
    """The message is recorded, no response is sent, and the retry with the key gets 200."""
    before = metric_value("fake_mail_faults_injected_total", kind="crash_after_accept")
    await _faults(client, script=[{"crash_after_accept": True}])
    key = _key()
    with pytest.raises(ConnectionDroppedError):
        await _post(client, key)
    record = await _record(client)
    assert [m["idempotency_key"] for m in record] == [key]
    retry = await _post(client, key)
    assert retry.status_code == 200
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json()["id"] == record[0]["id"]
    assert len(await _record(client)) == 1
    assert metric_value("fake_mail_faults_injected_total", kind="crash_after_accept") == before + 1


async def test_crash_after_accept_ratio_lets_the_retry_through(client: httpx.AsyncClient) -> None:
    """With the ratio at 1 every new message is dropped, but its retry is a replay."""
    await _faults(client, crash_after_accept_ratio=1.0)
    key = _key()
    with pytest.raises(ConnectionDroppedError):
        await _post(client, key)
    assert (await _post(client, key)).status_code == 200


async def test_latency_is_counted(client: httpx.AsyncClient) -> None:
    """latency_ms delays a POST; the latency fault is counted."""
    before = metric_value("fake_mail_faults_injected_total", kind="latency")
    await _faults(client, latency_ms=1)
    assert (await _post(client, _key())).status_code == 202
    assert metric_value("fake_mail_faults_injected_total", kind="latency") == before + 1


async def test_the_record_filters_and_clears(client: httpx.AsyncClient) -> None:
    """GET ?to= filters in acceptance order; DELETE forgets messages and idempotency results."""
    keys = [_key() for _ in range(3)]
    for key, to in zip(keys, ["a@example.com", "b@example.com", "a@example.com"], strict=True):
        assert (await _post(client, key, {**BODY, "to": to})).status_code == 202
    assert [m["idempotency_key"] for m in await _record(client, to="a@example.com")] == [
        keys[0],
        keys[2],
    ]
    assert [m["idempotency_key"] for m in await _record(client)] == keys
    assert (await client.delete("/v1/messages")).status_code == 204
    assert await _record(client) == []
    assert (await _post(client, keys[0], {**BODY, "to": "a@example.com"})).status_code == 202


async def test_faults_are_shown_replaced_and_reset(client: httpx.AsyncClient) -> None:
    """PUT replaces every setting (missing ones become none), GET shows it, DELETE resets."""
    settings = {
        "latency_ms": 5,
        "error_ratio": 0.1,
        "error_status": 502,
        "rate_limit_ratio": 0.2,
        "retry_after": 2,
        "reject": ["x@example.com", "@blocked.test"],
        "crash_after_accept_ratio": 0.3,
        "script": [
            {"status": 429, "retry_after": 1},
            {"status": 503},
            {"crash_after_accept": True},
        ],
        "seed": 5,
        "rate_limit_per_second": 50,
    }
    put = await client.put("/v1/faults", json=settings)
    assert put.json() == settings
    assert (await client.get("/v1/faults")).json() == settings
    await _faults(client, latency_ms=1)
    shown = (await client.get("/v1/faults")).json()
    assert (shown["latency_ms"], shown["error_ratio"], shown["script"]) == (1, 0.0, [])
    reset = await client.delete("/v1/faults")
    assert reset.status_code == 200
    assert reset.json()["latency_ms"] == 0


@pytest.mark.parametrize(
    ("faults", "field"),
    [
        ({"error_status": 404}, "error_status"),
        ({"error_ratio": 2}, "error_ratio"),
        ({"latency": 5}, "latency"),
        ({"script": [{"status": 404}]}, "status"),
        ({"script": [{"retry_after": 1}]}, "status"),
        ({"reject": "x@example.com"}, "reject"),
    ],
    ids=["status", "ratio", "unknown", "script-status", "script-empty-step", "reject-not-list"],
)
async def test_invalid_faults_are_refused(
    client: httpx.AsyncClient, faults: dict[str, Any], field: str
) -> None:
    """400 invalid_request naming the setting; the faults in force stay."""
    await _faults(client, latency_ms=3)
    response = await client.put("/v1/faults", json=faults)
    assert response.status_code == 400
    assert field in response.json()["detail"]
    assert (await client.get("/v1/faults")).json()["latency_ms"] == 3


async def test_a_key_replays_within_its_lifetime_and_sends_anew_after_it(api_key: str) -> None:
    """Keys expire as a real provider's do: a repeat within the TTL is replayed; past it, the
    same key and body send (and record) a second message, and the key replays that one."""
    now = [1000.0]
    service = MailService(Mailbox(key_ttl=60, clock=lambda: now[0]), FaultInjector())
    transport = httpx.ASGITransport(app=build_api(service, api_key=api_key))
    async with httpx.AsyncClient(
        transport=transport,
        base_url="http://fake-mail",
        headers={"Authorization": f"Bearer {api_key}"},
    ) as client:
        key = _key()
        first = await _post(client, key)
        assert first.status_code == 202
        now[0] += 59.9
        replay = await _post(client, key)
        assert replay.status_code == 200
        assert replay.json() == first.json()
        now[0] += 0.1  # 60 s after the acceptance: the key is forgotten
        again = await _post(client, key)
        assert again.status_code == 202
        assert again.json()["id"] != first.json()["id"]
        assert [m["id"] for m in await _record(client)] == [first.json()["id"], again.json()["id"]]
        now[0] += 30
        replay_of_new = await _post(client, key)
        assert replay_of_new.status_code == 200
        assert replay_of_new.json() == again.json()
        # Another body under an expired key is a new message, not a 409 reuse.
        now[0] += 60
        other = await _post(client, key, {**BODY, "subject": "Other"})
        assert other.status_code == 202


def test_a_mailbox_refuses_a_key_lifetime_that_is_not_positive() -> None:
    with pytest.raises(ValueError, match="key_ttl must be positive"):
        Mailbox(key_ttl=0)


async def test_over_the_rate_limit_429_with_retry_after_and_nothing_recorded(
    client: httpx.AsyncClient,
) -> None:
    """rate_limit_per_second 1: the second POST in a row is 429 with Retry-After 1."""
    before = metric_value("fake_mail_faults_injected_total", kind="rate_limit")
    await _faults(client, rate_limit_per_second=1)
    assert (await client.get("/v1/faults")).json()["rate_limit_per_second"] == 1
    first = await _post(client, _key())
    key = _key()
    second = await _post(client, key)
    assert first.status_code == 202
    assert (second.status_code, second.headers["Retry-After"], second.json()) == (
        429,
        "1",
        {"error": "rate_limited"},
    )
    assert len(await _record(client)) == 1
    assert metric_value("fake_mail_faults_injected_total", kind="rate_limit") == before + 1
