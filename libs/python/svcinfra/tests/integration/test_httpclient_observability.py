"""What a call leaves behind: one safe log line, metrics, and a client span propagated (EX-5)."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode, format_span_id, format_trace_id
from prometheus_client import REGISTRY
from pydantic import SecretStr
from structlog.testing import LogCapture

from svcinfra.config import MASK
from svcinfra.httpclient import ApiClient, HttpClientSettings, NotFoundError, UnauthorizedError
from svcinfra.httpclient import _client as client_module
from svcinfra.httpclient.testing import Reply, UpstreamServer

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator

API_KEY = "sk-live-4f9a1c77"
EMAIL = "alice@example.com"
PASSWORD = "pw-71b3e0"  # noqa: S105  (a fake the test looks for in the logs)
QUERY_TOKEN = "qt-99d01"  # noqa: S105  (a fake the test looks for in the logs)
SERVER_TOKEN = "srv-tok-5a5a"  # noqa: S105  (a fake the test looks for in the logs)
USER_ID = "user-8812"
SENSITIVE = [API_KEY, EMAIL, PASSWORD, QUERY_TOKEN, SERVER_TOKEN, USER_ID, "Alice"]
ROUTE = "/v1/users/{user_id}"


class CrmSettings(HttpClientSettings):
    """Settings of the test CRM API."""

    env_section = "CRM_API_"


class CrmApi(ApiClient):
    """An adapter with personal fields and a bare key header."""

    name = "crm-api"
    auth_header = "X-Api-Key"
    auth_scheme = None
    personal_fields = frozenset({"Email", "name"})


@pytest.fixture(name="logs")
def _logs() -> Iterator[LogCapture]:
    """Every structlog event, debug included, whatever logging setup ran before."""
    old = structlog.get_config()
    capture = LogCapture()
    structlog.configure(
        processors=[capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG),
    )
    try:
        yield capture
    finally:
        structlog.configure(**old)


@pytest.fixture(name="spans")
def _spans(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    """Finished spans of the adapter, from a private tracer provider (no global state)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(client_module, "TRACER", provider.get_tracer("test"))
    return exporter


@pytest.fixture(name="server")
async def _server() -> AsyncIterator[UpstreamServer]:
    async with UpstreamServer() as server:
        yield server


@pytest.fixture(name="api")
async def _api(server: UpstreamServer) -> AsyncIterator[CrmApi]:
    settings = CrmSettings(
        base_url=server.url, api_key=SecretStr(API_KEY), connect_timeout=0.5, read_timeout=0.5,
        write_timeout=0.5, pool_timeout=0.5, deadline=3.0, retry_backoff_initial=0.01,
        retry_backoff_max=0.02, log_bodies=True,
    )  # fmt: skip
    async with CrmApi(settings) as api:
        yield api


async def _update_user(api: CrmApi) -> Any:
    return await api.request_json(
        "PUT",
        ROUTE,
        path={"user_id": USER_ID},
        params={"token": QUERY_TOKEN, "page": 2},
        json={"email": EMAIL, "name": "Alice", "password": PASSWORD, "plan": "pro"},
    )


def _everything(logs: LogCapture, caplog: pytest.LogCaptureFixture) -> str:
    return json.dumps(logs.entries, default=str) + caplog.text


async def test_no_secret_or_personal_field_reaches_the_logs(
    server: UpstreamServer,
    api: CrmApi,
    logs: LogCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """With debug bodies on and a retry, no key, personal field, token or id is logged."""
    caplog.set_level(logging.DEBUG)
    server.script(
        Reply(503),
        Reply.json({"id": "rec-1", "email": EMAIL, "token": SERVER_TOKEN, "plan": "pro"}),
    )
    await _update_user(api)
    assert server.requests[0].headers["x-api-key"] == API_KEY  # the key did go out
    text = _everything(logs, caplog)
    leaked = [value for value in SENSITIVE if value in text]
    assert leaked == []
    (bodies,) = [entry for entry in logs.entries if entry["event"] == "external_api_bodies"]
    assert bodies["request_body"] == {"email": MASK, "name": MASK, "password": MASK, "plan": "pro"}
    assert bodies["response_body"]["token"] == MASK
    assert bodies["request_headers"]["x-api-key"] == MASK


async def test_failed_call_logs_no_secret(
    server: UpstreamServer,
    api: CrmApi,
    logs: LogCapture,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A refused key logs a warning with the error class, and still no secret or body."""
    caplog.set_level(logging.DEBUG)
    server.script(Reply.json({"error": f"bad key {API_KEY} for {EMAIL}"}, status=401))
    with pytest.raises(UnauthorizedError) as info:
        await _update_user(api)
    assert [value for value in SENSITIVE if value in _everything(logs, caplog)] == []
    assert API_KEY not in str(info.value)
    (line,) = [entry for entry in logs.entries if entry["event"] == "external_api_call"]
    assert (
        line["log_level"], line["outcome"], line["status"],
    ) == ("warning", "UnauthorizedError", 401)  # fmt: skip


async def test_one_line_per_call_with_the_route_template(
    server: UpstreamServer,
    api: CrmApi,
    logs: LogCapture,
) -> None:
    """A call with a retry writes one info line: method, template, status, attempts, duration."""
    server.script(Reply(502), Reply.json({}, x_request_id="req-77"))
    await _update_user(api)
    lines = [entry for entry in logs.entries if entry["event"] == "external_api_call"]
    assert len(lines) == 1
    line = lines[0]
    assert {
        "log_level": "info", "adapter": "crm-api", "method": "PUT", "route": ROUTE,
        "status": 200, "attempts": 2, "outcome": "ok", "request_id": "req-77",
    }.items() <= line.items()  # fmt: skip
    assert line["duration_ms"] > 0


async def test_bodies_stay_out_of_logs_unless_asked(
    server: UpstreamServer,
    logs: LogCapture,
) -> None:
    """Without LOG_BODIES no body line is written, even at debug level."""
    settings = CrmSettings(
        base_url=server.url, connect_timeout=0.5, read_timeout=0.5, write_timeout=0.5,
        pool_timeout=0.5, deadline=3.0,
    )  # fmt: skip
    async with CrmApi(settings) as api:
        await _update_user(api)
    assert [entry for entry in logs.entries if entry["event"] == "external_api_bodies"] == []


async def test_metrics_count_calls_and_retries(server: UpstreamServer, api: CrmApi) -> None:
    """A call retried once adds one duration sample by status class and one retry by reason."""
    labels = {"adapter": "crm-api", "method": "PUT", "route": ROUTE, "status_class": "2xx"}
    retry_labels = {"adapter": "crm-api", "route": ROUTE, "reason": "503"}

    def sample(name: str, sample_labels: dict[str, str]) -> float:
        return REGISTRY.get_sample_value(name, sample_labels) or 0.0

    calls = sample("svcinfra_http_client_call_duration_seconds_count", labels)
    retries = sample("svcinfra_http_client_retries_total", retry_labels)
    server.script(Reply(503), Reply.json({}))
    await _update_user(api)
    assert calls + 1 == sample("svcinfra_http_client_call_duration_seconds_count", labels)
    assert retries + 1 == sample("svcinfra_http_client_retries_total", retry_labels)


async def test_client_span_and_trace_context_propagation(
    server: UpstreamServer,
    api: CrmApi,
    spans: InMemorySpanExporter,
) -> None:
    """One CLIENT span per call, named by method and template; its trace id reaches the server."""
    server.script(Reply(503), Reply.json({}))
    await _update_user(api)
    (span,) = spans.get_finished_spans()
    assert f"PUT {ROUTE}" == span.name
    assert span.kind == SpanKind.CLIENT
    assert span.attributes is not None
    assert {
        "http.request.method": "PUT", "url.template": ROUTE, "http.response.status_code": 200,
        "http.request.resend_count": 1, "server.address": "127.0.0.1",
    }.items() <= dict(span.attributes).items()  # fmt: skip
    trace_id = format_trace_id(span.context.trace_id)
    for request in server.requests:
        assert trace_id in request.headers["traceparent"]


async def test_failed_call_marks_its_span(
    server: UpstreamServer,
    api: CrmApi,
    spans: InMemorySpanExporter,
) -> None:
    """A failed call's span has an error status and `error.type` (the status code)."""
    server.script(Reply(401))
    with pytest.raises(UnauthorizedError):
        await _update_user(api)
    (span,) = spans.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert span.attributes is not None
    assert span.attributes["error.type"] == "401"


async def test_a_line_below_the_level_costs_nothing_but_the_metric_counts(
    server: UpstreamServer,
    api: CrmApi,
) -> None:
    """With INFO filtered out, a success writes no line; its duration sample is still taken."""
    old = structlog.get_config()
    capture = LogCapture()
    structlog.configure(
        processors=[capture],
        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
    )
    labels = {"adapter": "crm-api", "method": "PUT", "route": ROUTE, "status_class": "2xx"}
    name = "svcinfra_http_client_call_duration_seconds_count"
    try:
        before = REGISTRY.get_sample_value(name, labels) or 0.0
        server.script(Reply.json({}))
        await _update_user(api)
        assert capture.entries == []
        assert REGISTRY.get_sample_value(name, labels) == before + 1
        server.script(Reply(404))
        with pytest.raises(NotFoundError):
            await _update_user(api)
        (line,) = capture.entries
        assert (line["event"], line["status"]) == ("external_api_call", 404)
    finally:
        structlog.configure(**old)


async def test_a_recording_span_is_current_for_the_line_and_goes_out_in_the_headers(
    server: UpstreamServer,
    api: CrmApi,
    spans: InMemorySpanExporter,
) -> None:
    """The call's log line is written inside its CLIENT span, whose id the server receives."""
    seen: list[int] = []

    def current_span_id(_: object, __: str, event: dict[str, Any]) -> dict[str, Any]:
        if event.get("event") == "external_api_call":
            seen.append(trace.get_current_span().get_span_context().span_id)
        return event

    old = structlog.get_config()
    structlog.configure(
        processors=[current_span_id, LogCapture()],
        # Whatever an earlier test configured, the call's info line must reach the processor.
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
    )
    try:
        server.script(Reply.json({}))
        await _update_user(api)
    finally:
        structlog.configure(**old)
    (span,) = spans.get_finished_spans()
    assert seen == [span.context.span_id]
    assert format_span_id(span.context.span_id) in server.requests[0].headers["traceparent"]
    assert not trace.get_current_span().get_span_context().is_valid  # detached afterwards


async def test_without_a_tracer_the_callers_trace_is_propagated(
    server: UpstreamServer,
    api: CrmApi,
) -> None:
    """With the no-op tracer, the caller's own span context still reaches the server."""
    caller = trace.SpanContext(
        trace_id=0x4BF92F3577B34DA6A3CE929D0E0E4736,
        span_id=0x00F067AA0BA902B7,
        is_remote=True,
        trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED),
    )
    server.script(Reply.json({}))
    with trace.use_span(trace.NonRecordingSpan(caller)):
        await _update_user(api)
    assert server.requests[0].headers["traceparent"] == (
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    )
