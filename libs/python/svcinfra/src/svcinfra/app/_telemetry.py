"""`RequestTelemetry`: an API's metrics, trace context and 500 of last resort, in one middleware.

What FastAPI's (and opentelemetry-instrumentation-asgi's) request instrumentation does for every
request, sampled or not (a propagator extract, a dozen span attributes, the sampler, a span
object, a metrics API call), costs a sampled-out request as much as a traced one. Here an
unsampled request costs a header scan, two random ids and the context attach its logs need; only
a sampled request asks the SDK for a span.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace.sampling import Decision
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation import set_span_in_context
from starlette.responses import JSONResponse

from svcinfra.observability import (
    drawn_trace_id,
    get_logger,
    http_durations,
    new_trace_id,
    parse_traceparent,
    unsampled_span,
)

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.sampling import Sampler
    from opentelemetry.trace import Span, Tracer, TracerProvider
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

_log = get_logger("svcinfra.app")

_TRACEPARENT: Final = b"traceparent"
_TRACESTATE: Final = b"tracestate"
_UNMATCHED: Final = "unmatched"
_SERVER_ERROR: Final = 500
_SERVER: Final = SpanKind.SERVER
_RECORD_AND_SAMPLE: Final = Decision.RECORD_AND_SAMPLE


def _internal_error() -> ASGIApp:
    body = {"error": {"code": "internal", "message": "internal error", "fields": []}}
    return JSONResponse(body, status_code=_SERVER_ERROR)


def _route(scope: Scope) -> str:
    """The route template (`/api/v1/users/{user_id}`), never the raw path (low cardinality)."""
    route = scope.get("route")
    return str(getattr(route, "path", _UNMATCHED))


class _Tracing:
    """The tracer and the head sampler of the global provider, re-read when it changes."""

    __slots__ = ("provider", "sampler", "tracer")

    def __init__(self, provider: TracerProvider) -> None:
        self.provider = provider
        self.tracer: Tracer = trace.get_tracer("svcinfra.app", tracer_provider=provider)
        # An SDK provider's sampler; a no-op provider (tracing not configured) samples nothing.
        self.sampler: Sampler | None = getattr(provider, "sampler", None)


class RequestTelemetry:
    """ASGI middleware of an API: request metrics, the request's trace, the 500 of last resort.

    Add it to the app last, so that it is the outermost of the app's own middleware (inside
    Starlette's `ServerErrorMiddleware`, which would otherwise answer a bug first):

        app.add_middleware(RequestTelemetry, namespace="users", internal_error=error_500)

    Per HTTP request:

    * metrics: `<namespace>_http_request_duration_seconds{method,route,status}`, a histogram
      with prometheus_client's default buckets; `route` is the route's template, `unmatched`
      when no route matched;
    * trace: a W3C `traceparent` from the caller is continued, its sampled flag obeyed (the
      `ParentBased` rule); without one, a new trace id is drawn and the global provider's
      sampler decides (`configure_tracing`: `TRACE_SAMPLE_RATIO`). A sampled request gets a
      SERVER span `<METHOD> <route>` with `http.request.method`, `url.path`, `url.scheme`,
      `http.route`, `http.response.status_code` (and `error.type` and an ERROR status on a
      5xx); an unsampled one gets no span at all, only its ids in the context, so that its log
      lines carry `trace_id` and the calls it makes propagate the trace, not sampled;
    * boundary: an exception nothing mapped is a bug; it is logged once, with the trace id,
      method and route, and the client gets `internal_error` (a fixed body, no internals).
      When the response had already started, the exception goes on to the server, which drops
      the connection.

    Args:
        app: the ASGI app.
        namespace: the metric name's prefix (the service's name, `users`).
        internal_error: the ASGI response of a bug; by default a 500 with
            `{"error": {"code": "internal", "message": "internal error", "fields": []}}`.
        tracer_provider: the provider whose tracer and sampler to use; by default the global
            one, read at each request (`configure_tracing` installs it after the app is built).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        namespace: str,
        internal_error: ASGIApp | None = None,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self._app = app
        self._durations = http_durations(namespace)
        self._internal_error = internal_error or _internal_error()
        self._provider = tracer_provider
        self._tracing: _Tracing | None = None

    def _current_tracing(self) -> _Tracing:
        provider = self._provider or trace.get_tracer_provider()
        tracing = self._tracing
        if tracing is None or tracing.provider is not provider:
            tracing = self._tracing = _Tracing(provider)
        return tracing

    def _start(self, scope: Scope, method: str) -> tuple[Span, bool]:
        """The request's span and whether it records (is sampled)."""
        parent_header = state_header = None
        for name, value in scope["headers"]:
            if name == _TRACEPARENT:
                parent_header = value
            elif name == _TRACESTATE:
                state_header = value
        parent = None if parent_header is None else parse_traceparent(parent_header, state_header)
        tracing = self._current_tracing()
        if parent is not None:
            if not parent.trace_flags.sampled:
                return unsampled_span(parent.trace_id, parent.trace_state), False
            trace_id = parent.trace_id
            parent_context = set_span_in_context(trace.NonRecordingSpan(parent))
        else:
            trace_id = new_trace_id()
            sampler = tracing.sampler
            if (
                sampler is None
                or sampler.should_sample(None, trace_id, method, _SERVER).decision
                is not _RECORD_AND_SAMPLE
            ):
                return unsampled_span(trace_id), False
            parent_context = otel_context.Context()  # a root: no current span is its parent
        attributes = {
            "http.request.method": method,
            "url.path": scope["path"],
            "url.scheme": scope.get("scheme", "http"),
        }
        with drawn_trace_id(trace_id):
            span = tracing.tracer.start_span(
                method, context=parent_context, kind=_SERVER, attributes=attributes
            )
        return span, span.is_recording()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        begin = time.perf_counter()
        method: str = scope["method"]
        span, recording = self._start(scope, method)
        token = otel_context.attach(set_span_in_context(span))
        started = False
        status = _SERVER_ERROR

        async def tracked_send(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
            await send(message)

        error: Exception | None = None
        try:
            await self._app(scope, receive, tracked_send)
        except Exception as exc:
            error = exc
            _log.exception("unhandled error", method=method, route=_route(scope))
            if started:
                raise  # the response is half sent: let the server drop the connection
            status = _SERVER_ERROR
            await self._internal_error(scope, receive, send)
        finally:
            route = _route(scope)
            self._durations.observe(method, route, status, time.perf_counter() - begin)
            if recording:
                _finish(span, method, route, status, error)
            otel_context.detach(token)


def _finish(span: Span, method: str, route: str, status: int, error: Exception | None) -> None:
    if route != _UNMATCHED:
        span.update_name(f"{method} {route}")
        span.set_attribute("http.route", route)
    span.set_attribute("http.response.status_code", status)
    if error is not None:
        span.record_exception(error)
    if status >= _SERVER_ERROR:
        error_type = type(error).__qualname__ if error is not None else str(status)
        span.set_attribute("error.type", error_type)
        span.set_status(StatusCode.ERROR)
    span.end()
