"""OPTIONS and 405 name every method of the path (RFC 9110 10.2.1), for every app AsgiServer serves.

Starlette, and FastAPI with its one route per method, answer with the `Allow` of the first route
whose path matched; these tests fail on that (`Allow: GET` for a path with GET, PATCH, DELETE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from svcinfra.app import AsgiServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.requests import Request
    from starlette.types import ASGIApp, Receive, Scope, Send


async def ok(_: Request) -> PlainTextResponse:
    return PlainTextResponse("ok")


def fastapi_app() -> FastAPI:
    """Routes of an included router (as the users service has them) and of the app itself."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    router = APIRouter(prefix="/users")

    @router.get("/{user_id}")
    async def get_user(user_id: str) -> str:
        return user_id

    @router.patch("/{user_id}")
    async def patch_user(user_id: str) -> str:
        return user_id

    @app.delete("/users/{user_id}")
    async def delete_user(user_id: str) -> str:
        return user_id

    @router.post("")
    async def create_user() -> str:
        return "created"

    app.include_router(router)
    return app


def starlette_app() -> Starlette:
    """One route per method, as FastAPI registers them, and the same routes under a Mount."""
    routes = [
        Route("/users/{user_id}", ok, methods=["GET"]),
        Route("/users/{user_id}", ok, methods=["PATCH"]),
        Route("/users/{user_id}", ok, methods=["DELETE"]),
        Route("/users", ok, methods=["POST"]),
    ]
    return Starlette(routes=[*routes, Mount("/v2", routes=routes)])


async def explicit_options(scope: Scope, receive: Receive, send: Send) -> None:
    """A route that answers OPTIONS itself, and a 405 no router produced."""
    if scope["method"] == "OPTIONS":
        response = Response(status_code=200, headers={"Allow": "GET, X-CUSTOM"})
    else:
        response = PlainTextResponse("no", status_code=405, headers={"Allow": "GET"})
    await response(scope, receive, send)


# Starlette's Route takes HEAD wherever it takes GET; FastAPI's APIRoute takes only what it names.
ITEM = {"fastapi": ["DELETE", "GET", "OPTIONS", "PATCH"]}
ITEM["starlette"] = sorted([*ITEM["fastapi"], "HEAD"])


@pytest.fixture(params=["fastapi", "starlette"])
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client(framework: str) -> AsyncIterator[httpx.AsyncClient]:
    app: ASGIApp = fastapi_app() if framework == "fastapi" else starlette_app()
    async with (
        AsgiServer(app, host="127.0.0.1", port=0) as server,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as http,
    ):
        yield http


def allow(response: httpx.Response) -> list[str]:
    return [method.strip() for method in response.headers["allow"].split(",")]


async def test_options_answers_204_with_every_method_of_the_path(
    client: httpx.AsyncClient, framework: str
) -> None:
    response = await client.options("/users/42")

    assert response.status_code == 204
    assert allow(response) == ITEM[framework]
    assert response.content == b""
    assert "content-type" not in response.headers


async def test_routes_under_a_mount_are_found_too() -> None:
    async with (
        AsgiServer(starlette_app(), host="127.0.0.1", port=0) as server,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as http,
    ):
        options = await http.options("/v2/users/42")
        wrong = await http.put("/v2/users/42")

    assert options.status_code == 204
    assert allow(options) == ITEM["starlette"]
    assert wrong.status_code == 405
    assert allow(wrong) == ITEM["starlette"]


async def test_a_wrong_method_is_405_with_every_method_of_the_path(
    client: httpx.AsyncClient, framework: str
) -> None:
    wrong = await client.put("/users/42")
    collection = await client.get("/users")

    assert wrong.status_code == 405
    assert allow(wrong) == ITEM[framework]
    assert wrong.content  # the app's own 405 body is kept
    assert collection.status_code == 405
    assert allow(collection) == ["OPTIONS", "POST"]


async def test_other_answers_pass_untouched(client: httpx.AsyncClient) -> None:
    found = await client.get("/users/42")
    missing = await client.options("/nowhere")

    assert found.status_code == 200
    assert "allow" not in found.headers
    assert missing.status_code == 404
    assert "allow" not in missing.headers


async def test_an_app_without_a_router_keeps_its_own_answers() -> None:
    async with (
        AsgiServer(explicit_options, host="127.0.0.1", port=0) as server,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}", timeout=5) as http,
    ):
        options = await http.options("/anything")
        wrong = await http.put("/anything")

    assert options.status_code == 200
    assert options.headers["allow"] == "GET, X-CUSTOM"
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "GET"
    assert wrong.text == "no"
