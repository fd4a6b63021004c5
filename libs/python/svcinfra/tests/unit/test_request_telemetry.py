"""`RequestTelemetry`: metrics, the W3C trace context, and the 500 boundary, sampled or not."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import Tracer, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import REGISTRY

from svcinfra.app import RequestTelemetry
from svcinfra.observability import configure_tracing, get_logger, parse_traceparent
from svcinfra.testing import capture_logs

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.sampling import Sampler

_log = get_logger("test.handler")

CALLER_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN = "00f067aa0ba902b7"


class Refused(Exception):  # noqa: N818  (a domain-style error the app maps itself)
    """An error the app's own handler answers (409)."""


def build(
    provider: TracerProvider | None, namespace: str
) -> tuple[FastAPI, dict[str, dict[str, str]]]:
    """An app with the middleware; the handler records the carrier it would propagate."""
    seen: dict[str, dict[str, str]] = {}
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        seen[item_id] = carrier
        _log.info("item read", item_id=item_id)
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("internals: postgresql://u:hunter2@db/x")

    @app.get("/refused")
    async def refused() -> None:
        raise Refused

    async def on_refused(_: Request, __: Exception) -> JSONResponse:
        return JSONResponse({"error": "refused"}, status_code=409)

    app.add_exception_handler(Refused, on_refused)
    app.add_middleware(RequestTelemetry, namespace=namespace, tracer_provider=provider)
    return app, seen


def recording(sampler: Sampler) -> tuple[TracerProvider, InMemorySpanExporter]:
    provider = TracerProvider(sampler=sampler)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://api.test")


def sample(name: str, **labels: str) -> float:
    value = REGISTRY.get_sample_value(name, labels)
    return 0.0 if value is None else value


def namespace() -> str:
    return f"t{secrets.token_hex(4)}"


def entry(logs: Any, event: str) -> dict[str, Any]:
    (found,) = [e for e in logs.entries if e.get("event") == event]
    return found  # type: ignore[no-any-return]


async def test_every_request_is_counted_by_method_route_template_and_status() -> None:
    ns = namespace()
    app, _ = build(None, ns)
    metric = f"{ns}_http_request_duration_seconds"

    async with client(app) as api:
        for item in ("a", "b"):
            assert (await api.get(f"/items/{item}")).status_code == 200
        assert (await api.get("/nowhere")).status_code == 404

    ok = {"method": "GET", "route": "/items/{item_id}", "status": "200"}
    assert sample(f"{metric}_count", **ok) == 2
    assert sample(f"{metric}_bucket", **ok, le="+Inf") == 2
    assert sample(f"{metric}_sum", **ok) > 0
    assert sample(f"{metric}_count", method="GET", route="unmatched", status="404") == 1


async def test_a_sampled_request_gets_a_server_span_whose_trace_id_its_logs_carry() -> None:
    provider, exporter = recording(ALWAYS_ON)
    app, seen = build(provider, namespace())

    with capture_logs() as logs:
        async with client(app) as api:
            await api.get("/items/a", headers={"x-other": "1"})

    (span,) = exporter.get_finished_spans()
    assert span.kind is SpanKind.SERVER
    assert span.name == "GET /items/{item_id}"
    assert span.attributes is not None
    assert span.attributes["http.route"] == "/items/{item_id}"
    assert span.attributes["http.response.status_code"] == 200
    assert span.attributes["url.path"] == "/items/a"
    assert span.parent is None
    trace_id = trace.format_trace_id(span.context.trace_id)
    assert entry(logs, "item read")["trace_id"] == trace_id
    assert entry(logs, "item read")["span_id"] == trace.format_span_id(span.context.span_id)
    _, sent_trace, sent_parent, flags = seen["a"]["traceparent"].split("-")
    assert (sent_trace, sent_parent) == (trace_id, trace.format_span_id(span.context.span_id))
    assert int(flags, 16) & 1  # sampled


async def test_an_unsampled_request_starts_no_span_yet_its_logs_and_calls_carry_the_trace(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[str] = []
    original = Tracer.start_span

    def counting(self: Tracer, name: str, *args: Any, **kwargs: Any) -> Any:
        started.append(name)
        return original(self, name, *args, **kwargs)

    monkeypatch.setattr(Tracer, "start_span", counting)
    provider, exporter = recording(ALWAYS_OFF)
    app, seen = build(provider, namespace())

    with capture_logs() as logs:
        async with client(app) as api:
            await api.get("/items/a")
            await api.get("/items/b")

    assert started == []
    assert exporter.get_finished_spans() == ()
    a = next(e for e in logs.entries if e.get("item_id") == "a")
    b = next(e for e in logs.entries if e.get("item_id") == "b")
    assert len(a["trace_id"]) == 32
    assert int(a["trace_id"], 16)
    assert a["trace_id"] != b["trace_id"]  # each request its own trace
    # Calls made from the request carry its trace, not sampled, with its span as the parent.
    _, trace_id, parent_id, flags = seen["a"]["traceparent"].split("-")
    assert (trace_id, parent_id, flags) == (a["trace_id"], a["span_id"], "00")


async def test_a_callers_sampled_traceparent_is_continued() -> None:
    provider, exporter = recording(ParentBased(ALWAYS_OFF))  # no new trace would be sampled
    app, seen = build(provider, namespace())

    with capture_logs() as logs:
        async with client(app) as api:
            headers = {
                "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01",
                "tracestate": "vendor=abc",
            }
            await api.get("/items/a", headers=headers)

    (span,) = exporter.get_finished_spans()
    assert trace.format_trace_id(span.context.trace_id) == CALLER_TRACE
    assert span.parent is not None
    assert trace.format_span_id(span.parent.span_id) == CALLER_SPAN
    assert span.parent.is_remote
    assert span.context.trace_state.get("vendor") == "abc"
    assert entry(logs, "item read")["trace_id"] == CALLER_TRACE
    assert seen["a"]["tracestate"] == "vendor=abc"


async def test_a_callers_unsampled_traceparent_is_obeyed_without_a_span() -> None:
    provider, exporter = recording(ALWAYS_ON)
    app, seen = build(provider, namespace())

    with capture_logs() as logs:
        async with client(app) as api:
            headers = {"traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-00"}
            await api.get("/items/a", headers=headers)

    assert exporter.get_finished_spans() == ()
    line = entry(logs, "item read")
    assert line["trace_id"] == CALLER_TRACE
    assert line["span_id"] != CALLER_SPAN  # the request's own span id, as the SDK would give
    assert seen["a"]["traceparent"] == f"00-{CALLER_TRACE}-{line['span_id']}-00"


@pytest.mark.parametrize(
    "header",
    [
        f"00-{'0' * 32}-{CALLER_SPAN}-01",
        f"00-{CALLER_TRACE}-{'0' * 16}-01",
        f"ff-{CALLER_TRACE}-{CALLER_SPAN}-01",
        f"00-{CALLER_TRACE.upper()}-{CALLER_SPAN}-01",
        f"00-{CALLER_TRACE}-{CALLER_SPAN}-01-extra",
        "not a traceparent",
    ],
    ids=["zero-trace", "zero-parent", "version-ff", "uppercase", "v00-extra", "garbage"],
)
async def test_an_invalid_traceparent_starts_a_new_trace(header: str) -> None:
    provider, exporter = recording(ALWAYS_ON)
    app, _ = build(provider, namespace())

    async with client(app) as api:
        await api.get("/items/a", headers={"traceparent": header})

    (span,) = exporter.get_finished_spans()
    assert span.parent is None
    assert trace.format_trace_id(span.context.trace_id) != CALLER_TRACE


def test_a_later_version_may_append_fields() -> None:
    parsed = parse_traceparent(f"01-{CALLER_TRACE}-{CALLER_SPAN}-03-more".encode())
    assert parsed is not None
    assert trace.format_trace_id(parsed.trace_id) == CALLER_TRACE
    assert parsed.trace_flags.sampled


async def test_head_sampling_decides_on_the_trace_id_the_logs_carry() -> None:
    provider = configure_tracing(
        service="svc", env="test", ratio=0.5, otlp_endpoint=None, set_global=False
    )
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    app, _ = build(provider, namespace())

    with capture_logs() as logs:
        async with client(app) as api:
            for n in range(40):
                await api.get(f"/items/{n}")

    logged = {e["trace_id"] for e in logs.entries if e.get("event") == "item read"}
    exported = {trace.format_trace_id(s.context.trace_id) for s in exporter.get_finished_spans()}
    ratio = TraceIdRatioBased(0.5)
    should = {
        trace_id
        for trace_id in logged
        if ratio.should_sample(None, int(trace_id, 16), "GET").decision.is_sampled()
    }
    assert len(logged) == 40
    assert exported == should  # the very ids logged were sampled, by the provider's ratio
    assert 0 < len(exported) < 40


async def test_a_bug_is_a_fixed_500_logged_once_with_its_trace_and_counted() -> None:
    ns = namespace()
    provider, exporter = recording(ALWAYS_ON)
    app, _ = build(provider, ns)

    with capture_logs(secrets=["hunter2"]) as logs:
        async with client(app) as api:
            response = await api.get("/boom")
            mapped = await api.get("/refused")

    assert response.status_code == 500
    assert response.json() == {
        "error": {"code": "internal", "message": "internal error", "fields": []}
    }
    assert "hunter2" not in response.text
    assert mapped.status_code == 409  # the app's own handlers still map their errors
    assert mapped.json() == {"error": "refused"}
    errors = [e for e in logs.entries if e.get("level") == "error"]
    assert len(errors) == 1
    assert errors[0]["event"] == "unhandled error"
    assert errors[0]["route"] == "/boom"
    assert "RuntimeError" in logs.text
    assert "hunter2" not in logs.text
    boom = next(s for s in exporter.get_finished_spans() if s.name == "GET /boom")
    assert errors[0]["trace_id"] == trace.format_trace_id(boom.context.trace_id)
    assert boom.status.status_code is StatusCode.ERROR
    assert boom.attributes is not None
    assert boom.attributes["error.type"] == "RuntimeError"
    assert [event.name for event in boom.events] == ["exception"]
    metric = f"{ns}_http_request_duration_seconds_count"
    assert sample(metric, method="GET", route="/boom", status="500") == 1
    assert sample(metric, method="GET", route="/refused", status="409") == 1


def test_a_namespace_must_make_a_metric_name() -> None:
    with pytest.raises(ValueError, match="metric name prefix"):
        RequestTelemetry(FastAPI(), namespace="fake-mail")
