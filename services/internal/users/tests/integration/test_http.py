"""The HTTP API through the real ASGI app and database: every status code of the boundary."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from users.app import Wiring, build_app
from users.transport.http import build_api

from svcinfra.postgres import Database
from svcinfra.testing import FaultProxy, capture_logs

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from svcinfra.cache import CacheClient
    from svcinfra.testing.pytest_plugin import PostgresDatabase

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

USERS = "/api/v1/users"
ADA = {"email": "Ada@Example.com", "username": "Ada_L", "display_name": "Ada Lovelace"}


async def create(api: httpx.AsyncClient, **change: str) -> dict[str, Any]:
    response = await api.post(USERS, json=ADA | change)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def problem_fields(response: httpx.Response) -> list[str]:
    return [p["field"] for p in response.json()["error"]["fields"]]


async def test_the_life_of_a_user(api: httpx.AsyncClient) -> None:
    created = await api.post(USERS, json=ADA)
    assert created.status_code == 201
    user = created.json()
    assert created.headers["location"] == f"{USERS}/{user['id']}"
    assert (user["email"], user["username"]) == ("ada@example.com", "ada_l")
    assert user["created_at"].endswith("Z")

    got = await api.get(created.headers["location"])
    by_name = await api.get(f"{USERS}/by-username/ADA_L")
    assert got.status_code == by_name.status_code == 200
    assert got.json() == by_name.json() == user

    patched = await api.patch(f"{USERS}/{user['id']}", json={"display_name": "Countess"})
    assert patched.status_code == 200
    assert patched.json()["display_name"] == "Countess"
    assert (await api.get(f"{USERS}/{user['id']}")).json()["display_name"] == "Countess"

    deleted = await api.delete(f"{USERS}/{user['id']}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    gone = await api.get(f"{USERS}/{user['id']}")
    assert gone.status_code == 404
    assert gone.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", USERS, ADA | {"username": "a!"}, "username"),
        ("POST", USERS, ADA | {"email": "not-an-address"}, "email"),
        ("POST", USERS, ADA | {"display_name": "bell\x07"}, "display_name"),
        ("POST", USERS, {"email": "a@b.cd", "username": "abc"}, "display_name"),
        ("POST", USERS, ADA | {"admin": True}, "admin"),
        ("PATCH", f"{USERS}/{uuid.UUID(int=1)}", {}, "body"),
        ("PATCH", f"{USERS}/{uuid.UUID(int=1)}", {"username": "x"}, "username"),
        ("PATCH", f"{USERS}/{uuid.UUID(int=1)}", {"email": None}, "email"),
        ("PATCH", f"{USERS}/{uuid.UUID(int=1)}", {"username": "abc", "email": None}, "email"),
        ("GET", f"{USERS}?email=not-an-address", None, "email"),
        ("GET", f"{USERS}/not-a-uuid", None, "user_id"),
        ("DELETE", f"{USERS}/42", None, "user_id"),
        ("GET", f"{USERS}?limit=0", None, "limit"),
        ("GET", f"{USERS}?limit=101", None, "limit"),
        ("GET", f"{USERS}?sort=email", None, "sort"),
        ("GET", f"{USERS}?cursor=bogus", None, "cursor"),
        ("GET", f"{USERS}?created_after=yesterday", None, "created_after"),
        ("GET", f"{USERS}?created_after=2026-01-01T00:00:00", None, "created_after"),
        ("GET", f"{USERS}?username_prefix=a-b", None, "username_prefix"),
    ],
)
async def test_invalid_input_is_422_naming_the_field(
    api: httpx.AsyncClient, method: str, path: str, body: object, field: str
) -> None:
    response = await api.request(method, path, json=body)

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "validation_failed"
    assert field in problem_fields(response)


@pytest.mark.parametrize("method", ["POST", "PATCH"])
@pytest.mark.parametrize("body", [b'{"email": ', b'{"email": "\x80"}'], ids=["syntax", "not-utf8"])
async def test_a_body_that_is_not_json_is_422_naming_the_body(
    api: httpx.AsyncClient, method: str, body: bytes
) -> None:
    """Not JSON, or not UTF-8 (FastAPI's own 400): one answer, the document's (#15)."""
    path = USERS if method == "POST" else f"{USERS}/{uuid.UUID(int=1)}"

    response = await api.request(
        method, path, content=body, headers={"content-type": "application/json"}
    )

    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_failed"
    assert problem_fields(response) == ["body"]


@pytest.mark.parametrize(
    ("second", "field"),
    [({"username": "other"}, "email"), ({"email": "other@example.com"}, "username")],
)
async def test_a_taken_value_is_409_naming_the_field(
    api: httpx.AsyncClient, second: dict[str, str], field: str
) -> None:
    await create(api)

    response = await api.post(USERS, json=ADA | second)

    assert response.status_code == 409
    assert response.json()["error"]["code"] == "conflict"
    assert problem_fields(response) == [field]


async def test_renaming_to_a_taken_username_is_409(api: httpx.AsyncClient) -> None:
    await create(api, email="bob@example.com", username="bob")
    ada = await create(api)

    response = await api.patch(f"{USERS}/{ada['id']}", json={"username": "BOB"})

    assert response.status_code == 409
    assert problem_fields(response) == ["username"]


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
async def test_a_missing_user_is_404(api: httpx.AsyncClient, method: str) -> None:
    body = {"display_name": "x"} if method == "PATCH" else None

    response = await api.request(method, f"{USERS}/{uuid.uuid4()}", json=body)

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_routing_errors_use_the_same_body(api: httpx.AsyncClient) -> None:
    unknown = await api.get("/api/v2/users")
    wrong_method = await api.put(USERS)

    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


async def test_an_oversized_body_is_413_and_stores_nothing(api: httpx.AsyncClient) -> None:
    huge = ADA | {"display_name": "x" * 70_000}

    declared = await api.post(USERS, json=huge)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "ada@example.com", "username": "ada", "display_name": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    streamed = await api.post(USERS, content=chunks(), headers={"content-type": "application/json"})

    assert declared.status_code == streamed.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"
    assert (await api.get(USERS)).json()["items"] == []


async def test_search_pages_through_the_api(api: httpx.AsyncClient) -> None:
    for name in ("ann", "bob", "cid"):
        await create(api, email=f"{name}@example.com", username=name)

    first = (await api.get(USERS, params={"sort": "-username", "limit": 2})).json()
    rest = (
        await api.get(
            USERS, params={"sort": "-username", "limit": 2, "cursor": first["next_cursor"]}
        )
    ).json()
    mismatched = await api.get(USERS, params={"sort": "username", "cursor": first["next_cursor"]})

    assert [u["username"] for u in first["items"]] == ["cid", "bob"]
    assert [u["username"] for u in rest["items"]] == ["ann"]
    assert rest["next_cursor"] is None
    assert mismatched.status_code == 422


class Exploding:
    """A service whose every use case fails with an unexpected error holding internals."""

    def __getattr__(self, name: str) -> Any:
        async def fail(*_: object, **__: object) -> None:
            raise RuntimeError("pool state: postgresql://users:hunter2@db.internal/users")

        return fail


@pytest.fixture
def tracing() -> None:
    """A recording tracer provider, so that logs carry trace ids as in the service."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())


@pytest.mark.usefixtures("tracing")
async def test_an_unexpected_error_is_a_bare_500_logged_once_with_its_trace() -> None:
    app = build_api(Exploding())  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)

    with capture_logs(service="users", secrets=["hunter2"]) as logs:
        async with httpx.AsyncClient(transport=transport, base_url="http://users.test") as api:
            response = await api.get(f"{USERS}/{uuid.uuid4()}")

    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal", "message": "internal error", "fields": []}
    }
    assert "hunter2" not in response.text
    assert "postgresql" not in response.text
    errors = [e for e in logs.entries if e.get("level") == "error"]
    assert len(errors) == 1
    assert errors[0]["event"] == "unhandled error"
    assert errors[0]["route"] == f"{USERS}/{{user_id}}"
    assert len(errors[0]["trace_id"]) == 32
    assert "RuntimeError" in logs.text
    assert "hunter2" not in logs.text


async def test_postgres_down_is_503_with_retry_after_then_recovers(
    migrated: PostgresDatabase, cache_client: CacheClient, wiring: Wiring
) -> None:
    async with FaultProxy("127.0.0.1", 5432) as proxy:
        db = await Database.connect(migrated.settings(port=proxy.port, connect_timeout=1.0))
        try:
            transport = httpx.ASGITransport(app=build_app(db, cache_client, wiring))
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as api:
                cached = await create(api)
                await api.get(f"{USERS}/{cached['id']}")  # now in the profile cache

                await proxy.refuse()
                proxy.reset_all()
                with capture_logs(service="users") as logs:
                    down = await api.post(USERS, json=ADA | {"username": "bob"})
                    search = await api.get(USERS)
                    from_cache = await api.get(f"{USERS}/{cached['id']}")

                await proxy.accept()
                recovered = await api.post(
                    USERS, json={**ADA, "email": "c@example.com", "username": "cat"}
                )

            assert down.status_code == search.status_code == 503
            assert down.headers["retry-after"] == "1"
            assert down.json()["error"]["code"] == "temporarily_unavailable"
            assert "5432" not in down.text
            assert from_cache.status_code == 200
            assert from_cache.json() == cached
            assert recovered.status_code == 201
            degraded = logs.find("request degraded")
            assert len(degraded) == 2
            assert {e["level"] for e in degraded} == {"warning"}
        finally:
            await db.close()
