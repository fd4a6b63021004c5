"""The per-call shortcuts keep httpx's and asyncio's behaviour: request building, routes, the
deadline watch, the logger bound once."""

from __future__ import annotations

import logging
from typing import Any

import httpx
import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr
from structlog.testing import LogCapture

from svcinfra.httpclient import AdapterUsageError, ApiClient, HttpClientSettings
from svcinfra.httpclient._routes import RouteTemplates
from svcinfra.httpclient._telemetry import BoundOnce

TIMEOUTS = {
    "connect_timeout": 1.0,
    "read_timeout": 2.0,
    "write_timeout": 3.0,
    "pool_timeout": 0.5,
    "deadline": 5.0,
}


class ShopSettings(HttpClientSettings):
    """Settings of the test API."""

    env_section = "SHOP_API_"


class ShopApi(ApiClient):
    """An adapter with a fixed header and an idempotency header."""

    name = "shop-api"
    idempotency_header = "Idempotency-Key"
    default_headers = {"Accept": "application/json", "X-Client": "svcinfra-test"}  # noqa: RUF012


def _api(base_url: str = "https://shop.example/api/v2") -> ShopApi:
    return ShopApi(ShopSettings(base_url=base_url, api_key=SecretStr("k-1"), **TIMEOUTS))


def _same(ours: httpx.Request, theirs: httpx.Request) -> None:
    assert ours.method == theirs.method
    assert ours.url == theirs.url
    assert ours.headers.raw == theirs.headers.raw
    assert ours.content == theirs.content
    assert ours.extensions == theirs.extensions


CASES: list[dict[str, Any]] = [
    {"method": "GET", "path": "/v1/items/item-1", "params": None, "content": None, "headers": {}},
    {
        "method": "get",
        "path": "/v1/items/a%2Fb%20c",
        "params": {"q": "ü x", "page": 2, "empty": None, "on": True},
        "content": None,
        "headers": {},
    },
    {
        "method": "POST",
        "path": "/v1/orders",
        "params": {},
        "content": b'{"n":1}',
        "headers": {"Content-Type": "application/json", "Idempotency-Key": "k-77"},
    },
    {
        "method": "PUT",
        "path": "/",
        "params": None,
        "content": b"",
        "headers": {"x-client": "other"},
    },
    {"method": "DELETE", "path": "/v1/caf\u00e9", "params": None, "content": None, "headers": {}},
]


@pytest.mark.parametrize("base_url", ["https://shop.example/api/v2", "http://127.0.0.1:8080"])
@pytest.mark.parametrize("case", CASES)
async def test_requests_are_built_as_httpx_builds_them(base_url: str, case: dict[str, Any]) -> None:
    """URL, headers (client defaults merged), body and timeouts are exactly httpx's own."""
    api = _api(base_url)
    try:
        ours = api._build_request(
            case["method"],
            case["path"],
            params=case["params"],
            content=case["content"],
            headers=case["headers"],
        )
        theirs = api._http.build_request(
            case["method"],
            case["path"],
            params=case["params"],
            content=case["content"],
            headers=case["headers"],
        )
        _same(ours, theirs)
    finally:
        await api.aclose()


@given(
    segment=st.text(min_size=1, max_size=30),
    value=st.text(max_size=20),
)
def test_any_quoted_path_and_query_build_as_httpx(segment: str, value: str) -> None:
    """Whatever the path value and query, the shortcut and httpx agree."""
    api = _api()
    path = RouteTemplates().format("/v1/items/{item_id}", {"item_id": segment})
    params = {"q": value}
    _same(
        api._build_request("GET", path, params=params, content=None, headers={}),
        api._http.build_request("GET", path, params=params, content=None, headers={}),
    )


async def test_cookies_and_network_path_references_are_left_to_httpx() -> None:
    """With cookies in the jar, or a `//host` path, httpx builds the request itself."""
    api = _api()
    try:
        _same(
            api._build_request("GET", "//evil.example/x", params=None, content=None, headers={}),
            api._http.build_request("GET", "//evil.example/x"),
        )
        api._http.cookies.set("session", "s-1", domain="shop.example")
        ours = api._build_request("GET", "/v1/me", params=None, content=None, headers={})
        _same(ours, api._http.build_request("GET", "/v1/me"))
        assert ours.headers["cookie"] == "session=s-1"
    finally:
        await api.aclose()


def test_routes_without_placeholders_and_repeated_routes() -> None:
    """A plain route is its own path; a cached route formats and refuses as the first time."""
    routes = RouteTemplates()
    assert routes.format("/v1/health", None) == "/v1/health"
    with pytest.raises(AdapterUsageError, match=r"unexpected \['id'\]"):
        routes.format("/v1/health", {"id": "1"})
    for _ in range(2):
        assert routes.format("/a/{x}/b/{y}", {"x": "1", "y": 2}) == "/a/1/b/2"
        with pytest.raises(AdapterUsageError, match=r"missing \['y'\], unexpected \['z'\]"):
            routes.format("/a/{x}/b/{y}", {"x": "1", "z": 2})
        with pytest.raises(AdapterUsageError, match="is empty"):
            routes.format("/a/{x}/b/{y}", {"x": "", "y": 2})
    with pytest.raises(AdapterUsageError, match="carry no query"):
        routes.format("/a?b={x}", {"x": "1"})


def test_the_logger_is_bound_once_per_configuration() -> None:
    """The same bound logger serves every line until logging is configured again."""
    old = structlog.get_config()
    try:
        first, second = LogCapture(), LogCapture()
        structlog.configure(
            processors=[first], wrapper_class=structlog.make_filtering_bound_logger(logging.INFO)
        )
        log = BoundOnce("svcinfra.test")
        bound = log.get()
        assert log.get() is bound
        bound.info("one")
        structlog.configure(processors=[second])
        log.get().info("two")
        structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
        assert not log.get().is_enabled_for(logging.INFO)
        assert [e["event"] for e in first.entries] == ["one"]
        assert [e["event"] for e in second.entries] == ["two"]
    finally:
        structlog.configure(**old)


def _answer(url: str, headers: list[tuple[str, str]]) -> httpx.Response:
    return httpx.Response(200, headers=headers, request=httpx.Request("GET", url))


ANSWERS = [
    [],
    [("content-type", "application/json")],
    [("Set-Cookie", "session=s1; Path=/")],
    [("set-cookie", "a=1; Path=/"), ("SET-COOKIE", "b=2; Path=/api")],
    [("set-cookie", "session=; Path=/; Max-Age=0")],  # deletes the cookie set before
    [("set-cookie", "other=x; Domain=elsewhere.example")],  # refused by the jar's policy
]


async def test_the_jar_reads_answers_as_httpx_does_and_skips_those_without_cookies() -> None:
    """The adapter's jar ends every step as httpx's own jar does, and never wraps an answer
    without a `Set-Cookie` for `http.cookiejar`."""
    api = _api()
    try:
        ours = api._http.cookies
        theirs = httpx.Cookies()
        url = "https://shop.example/api/v2/v1/me"
        for headers in ANSWERS:
            ours.extract_cookies(_answer(url, headers))
            theirs.extract_cookies(_answer(url, headers))
            assert sorted((c.name, c.value, c.path) for c in ours.jar) == sorted(
                (c.name, c.value, c.path) for c in theirs.jar
            )
        assert dict(ours) == {"a": "1", "b": "2"}

        def refuse(*_args: object) -> None:
            raise AssertionError("an answer without Set-Cookie reached http.cookiejar")

        ours.jar.extract_cookies = refuse  # type: ignore[method-assign]
        ours.extract_cookies(_answer(url, [("content-type", "application/json")]))
    finally:
        await api.aclose()
