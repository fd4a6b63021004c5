"""Building adapters and calls: settings, definition and usage errors, the error tree."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from svcinfra.config import Config, ConfigError, load_config
from svcinfra.httpclient import (
    AdapterDefinitionError,
    AdapterUsageError,
    ApiClient,
    ExternalApiError,
    HttpClientSettings,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    TemporaryError,
)
from svcinfra.httpclient._call import RequestSpec
from svcinfra.httpclient._routes import RouteTemplates

TIMEOUTS = {
    "connect_timeout": 1.0,
    "read_timeout": 2.0,
    "write_timeout": 2.0,
    "pool_timeout": 1.0,
    "deadline": 5.0,
}


class MailApiSettings(HttpClientSettings):
    """A service's settings for one API."""

    env_section = "MAIL_API_"


class MailApi(ApiClient):
    """An adapter that deduplicates by Idempotency-Key."""

    name = "mail-api"
    idempotency_header = "Idempotency-Key"


class PlainApi(ApiClient):
    """An adapter whose API has no idempotency keys."""

    name = "plain-api"


def _settings(**overrides: Any) -> MailApiSettings:
    values: dict[str, Any] = {"base_url": "https://mail.example", **TIMEOUTS, **overrides}
    return MailApiSettings(**values)


@pytest.mark.parametrize("missing", sorted(TIMEOUTS), ids=str)
def test_settings_require_every_timeout_and_the_deadline(missing: str) -> None:
    """Settings cannot be built without each of the four timeouts and the deadline (EX-2)."""
    values: dict[str, Any] = {"base_url": "https://mail.example", **TIMEOUTS}
    del values[missing]
    with pytest.raises(ValidationError, match=missing):
        MailApiSettings(**values)


class ServiceConfig(Config):
    """A service with one external API."""

    mail_api: MailApiSettings


def _env(**overrides: str) -> dict[str, str]:
    env = {f"MAIL_API_{name.upper()}": str(value) for name, value in TIMEOUTS.items()}
    env |= {"SERVICE_NAME": "notifications", "ENV": "dev", "ENV_PREFIX": "NOTIFICATIONS_"}
    # a secret is read only under the service's prefix (CF-4); the rest of the section is not
    env |= {
        "MAIL_API_BASE_URL": "https://mail.example/",
        "NOTIFICATIONS_MAIL_API_API_KEY": "sk-live-1",
    }
    return env | overrides


def test_settings_load_from_the_environment_by_section() -> None:
    """A service's section reads MAIL_API_* variables, its key under the service's prefix, and
    keeps the key secret (CF-3, CF-4, EX-5)."""
    config = load_config(ServiceConfig, _env())
    assert config.mail_api.base_url == "https://mail.example"
    assert "sk-live-1" not in repr(config)
    env = _env()
    del env["MAIL_API_READ_TIMEOUT"]
    with pytest.raises(ConfigError, match="MAIL_API_READ_TIMEOUT"):
        load_config(ServiceConfig, env)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://user:pw-123@mail.example", "credentials"),
        ("https://mail.example/v1?api_key=pw-123", "query"),
        ("ftp://mail.example", "http"),
        ("mail.example", "http"),
    ],
    ids=["credentials", "query", "scheme", "relative"],
)
def test_settings_refuse_base_urls_with_secrets(url: str, message: str) -> None:
    """A base URL carrying credentials or a query is refused, without echoing it (EX-5)."""
    with pytest.raises(ValidationError, match=message) as info:
        _settings(base_url=url)
    assert "pw-123" not in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "variable"),
    [
        ({"MAIL_API_READ_TIMEOUT": "9"}, "MAIL_API_READ_TIMEOUT: must not exceed DEADLINE"),
        ({"MAIL_API_RETRY_BACKOFF_INITIAL": "6"}, "MAIL_API_RETRY_BACKOFF_INITIAL"),
        ({"MAIL_API_MAX_KEEPALIVE_CONNECTIONS": "30"}, "MAIL_API_MAX_KEEPALIVE_CONNECTIONS"),
    ],
    ids=["timeout-beyond-deadline", "backoff", "keepalive"],
)
def test_settings_refuse_inconsistent_values(overrides: dict[str, str], variable: str) -> None:
    """A timeout beyond the deadline, or bounds the wrong way round, are refused by variable."""
    with pytest.raises(ConfigError, match=variable):
        load_config(ServiceConfig, _env(**overrides))


def test_client_needs_a_name() -> None:
    """An adapter class without a `name` cannot be instantiated (EX-1)."""

    class Nameless(ApiClient):
        pass

    with pytest.raises(AdapterDefinitionError, match="must set `name`"):
        Nameless(_settings())


@pytest.mark.parametrize(
    "body",
    [
        {"name": "Bad_Name"},
        {"name": "ok", "default_headers": {"Authorization": "Bearer hard-coded"}},
        {"name": "ok", "default_headers": {"X-Api-Key": "hard-coded"}},
        {"name": "ok", "idempotency_header": "Idempotency Key"},
    ],
    ids=["name", "authorization-header", "api-key-header", "header-name"],
)
def test_adapter_class_errors(body: dict[str, Any]) -> None:
    """A bad name, a hard-coded credential header or an invalid header name fail at definition."""
    with pytest.raises(AdapterDefinitionError):
        type("Broken", (ApiClient,), body)


def test_client_refuses_unvalidated_settings() -> None:
    """Settings built without validation and lacking timeouts are refused (EX-2)."""
    with pytest.raises(AdapterDefinitionError, match="connect_timeout"):
        MailApi(MailApiSettings.model_construct(base_url="https://mail.example"))
    with pytest.raises(AdapterDefinitionError, match="HttpClientSettings"):
        MailApi(object())  # type: ignore[arg-type]


def test_key_is_sent_by_auth_not_kept_in_headers() -> None:
    """The key never sits in the client's default headers, and its repr masks it (EX-5)."""
    api = MailApi(_settings(api_key=SecretStr("sk-live-9")))
    assert "authorization" not in api._http.headers
    assert "sk-live-9" not in repr(api._http.auth)
    assert "sk-live-9" not in repr(api.settings)


@pytest.fixture(name="api")
async def _api() -> Any:
    api = MailApi(_settings())
    yield api
    await api.aclose()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"route": "/users/{user_id}"}, "missing"),
        ({"route": "/users", "path": {"user_id": 1}}, "unexpected"),
        ({"route": "/users/{user_id}", "path": {"user_id": ""}}, "empty"),
        ({"route": "users"}, "start with"),
        ({"route": "/users?page=2"}, "query"),
        ({"route": "/users/{user-id}", "path": {"user-id": 1}}, "identifiers"),
        ({"route": "/u", "headers": {"Authorization": "Bearer x"}}, "credential"),
        ({"route": "/u", "json": {}, "content": b"{}"}, "json or content"),
        ({"route": "/u", "deadline": 0}, "deadline"),
        ({"route": "/u", "idempotency_key": "has space"}, "printable"),
    ],
    ids=[
        "missing-param", "extra-param", "empty-param", "relative", "query-in-route",
        "bad-placeholder", "credential-header", "json-and-content", "zero-deadline", "bad-key",
    ],
)  # fmt: skip
async def test_malformed_calls_fail_before_sending(
    api: MailApi,
    kwargs: dict[str, Any],
    message: str,
) -> None:
    """A malformed call raises AdapterUsageError naming the problem; nothing is sent."""
    route = kwargs.pop("route")
    with pytest.raises(AdapterUsageError, match=message):
        await api.request("POST", route, **kwargs)


async def test_key_on_an_api_without_idempotency_is_refused() -> None:
    """An idempotency key is refused when the API declares no header that would honour it."""
    api = PlainApi(_settings())
    try:
        with pytest.raises(AdapterUsageError, match="no idempotency_header"):
            await api.request("POST", "/u", idempotency_key="k1")
    finally:
        await api.aclose()


def test_route_values_are_quoted() -> None:
    """Path values are URL-quoted, so an id cannot change the route."""
    assert RouteTemplates().format("/users/{id}", {"id": "a/b c"}) == "/users/a%2Fb%20c"


@given(value=st.text(min_size=1, max_size=40), other=st.integers())
def test_route_values_cannot_escape_their_segment(value: str, other: int) -> None:
    """Whatever the value, it fills exactly its own path segment and reads back unchanged."""
    url = RouteTemplates().format("/users/{user_id}/orders/{n}", {"user_id": value, "n": other})
    segments = url.split("/")
    assert [segments[0], segments[1], segments[3]] == ["", "users", "orders"]
    assert value == unquote(segments[2])
    assert "?" not in url
    assert "#" not in url


def test_idempotency_header_passed_by_hand_is_refused() -> None:
    """The idempotency header is set through idempotency_key=, never as a raw header."""
    api = MailApi(_settings())
    with pytest.raises(AdapterUsageError, match="idempotency_key="):
        api._prepare(
            RequestSpec(
                method="POST", route="/u", path=None, params=None, json={}, content=None,
                headers={"idempotency-key": "k"}, idempotency_key=None, idempotent=None,
                deadline=None,
            ),
        )  # fmt: skip


def test_error_carries_facts_not_the_body() -> None:
    """An error names adapter, route template, status, request id and Retry-After; no body."""
    error = RateLimitedError(
        "HTTP 429 Too Many Requests",
        adapter="mail-api",
        method="POST",
        route="/v1/messages",
        reason="status",
        status=429,
        request_id="req_1",
        retry_after=2.0,
        attempts=3,
    )
    assert str(error) == (
        "mail-api POST /v1/messages: HTTP 429 Too Many Requests "
        "(status 429, 3 attempts, retry after 2s, request id req_1)"
    )
    assert error.temporary
    assert isinstance(error, TemporaryError)
    assert not NotFoundError("x", adapter="a", method="GET", route="/", reason="status").temporary


def test_error_tree() -> None:
    """Temporary and permanent errors share one root; programming errors stand apart."""
    assert issubclass(TemporaryError, ExternalApiError)
    assert issubclass(PermanentError, ExternalApiError)
    assert issubclass(NotFoundError, PermanentError)
    assert not issubclass(AdapterDefinitionError, ExternalApiError)
    assert not issubclass(AdapterUsageError, ExternalApiError)
