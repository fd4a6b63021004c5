"""`GET /api/v1/users/{id}` answers with the body kept with the near-cached profile (issue 19).

That body must be exactly what FastAPI's ordinary path makes of the declared `UserOut`: the
POST and PATCH answers (serialized by FastAPI from the model they return) are the reference,
byte for byte, for users whose fields are plain, non-ASCII, at their length limits, or made of
the characters JSON escapes, on each kind of read (a load, a Redis hit, a near-cache hit).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi.routing import APIRoute, serialize_response
from users.app import Wiring, build_app
from users.transport.http.dto import UserOut, user_json
from users.transport.http.routes import router

from svcinfra.testing import metric_value

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from fastapi import FastAPI

    from svcinfra.cache import CacheClient
    from svcinfra.postgres import Database

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

USERS = "/api/v1/users"
EDGE_CASES = [
    {"email": "ada@example.com", "username": "ada", "display_name": "Ada"},
    {"email": "Zoë.Ünïcode@exämple.org", "username": "zoe_1", "display_name": "Zoë 名前 😀 ☃"},
    {
        "email": 'o"b\\rien+tag@example.com',
        "username": "o_brien",
        "display_name": 'Quote " back \\ slash </script> & <b> \u2028\u2029 \u00ad \ufeff /',
    },
    {
        "email": f"{'l' * 64}@{'d' * 60}.example.com",
        "username": "x" * 32,
        "display_name": "é" * 99 + "😀",  # 100 characters, one beyond the BMP
    },
    {"email": "a@b.co", "username": "abc", "display_name": "x"},
]


@pytest.fixture
async def app(db: Database, cache_client: CacheClient, wiring: Wiring) -> FastAPI:
    return build_app(db, cache_client, wiring)


@pytest.fixture
async def api(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://users.test") as client:
        yield client


def near_hits(wiring: Wiring) -> float:
    return metric_value("svcinfra_cache_near_total", namespace=wiring.namespace.name, event="hit")


async def test_every_read_answers_the_bytes_fastapi_makes_of_the_model(
    api: httpx.AsyncClient, wiring: Wiring
) -> None:
    (route,) = [r for r in router.routes if isinstance(r, APIRoute) and r.name == "get_user"]
    for fields in EDGE_CASES:
        created = await api.post(USERS, json=fields)
        assert created.status_code == 201, created.text
        path = created.headers["location"]
        # FastAPI's own serialization of the model the handler builds, as for any route
        model = UserOut.model_validate_json(created.content)
        reference = await serialize_response(
            field=route.response_field, response_content=model, dump_json=True
        )
        assert created.content == reference
        assert user_json(model) == reference  # type: ignore[arg-type]  # (duck-typed: a UserOut)
        hits = near_hits(wiring)
        reads = 0
        while near_hits(wiring) < hits + 3:  # a load, a Redis hit, then near hits
            got = await api.get(path)
            assert got.status_code == 200
            assert got.content == reference, (fields, got.content)
            assert got.headers["content-type"] == created.headers["content-type"]
            assert int(got.headers["content-length"]) == len(reference)
            reads += 1
            assert reads < 500, "the near layer never served"
        patched = await api.patch(path, json={"display_name": fields["display_name"][::-1]})
        assert patched.status_code == 200
        for _ in range(3):  # this process's own write: the new body at once (read-your-writes)
            assert (await api.get(path)).content == patched.content


async def test_a_missing_or_malformed_id_keeps_its_error_answers(api: httpx.AsyncClient) -> None:
    missing = await api.get(f"{USERS}/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    malformed = await api.get(f"{USERS}/not-a-uuid")
    assert malformed.status_code == 422
    assert [p["field"] for p in malformed.json()["error"]["fields"]] == ["user_id"]
