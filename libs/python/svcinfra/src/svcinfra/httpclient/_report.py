"""The trace of one finished call: a duration sample, span attributes and one log line (EX-5).

The log line names the route template, never the URL: no ids, no query, no credentials. Bodies
are logged only at debug level, only when the settings ask for it, and only after the adapter's
redaction hook; a body that is not JSON is described by size and type, never copied.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import StatusCode

from ._errors import ExternalApiError
from ._headers import redact_headers
from ._telemetry import CALL_DURATION, status_class

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx
    from opentelemetry.trace import Span
    from prometheus_client import Histogram

    from ._call import Call
    from ._telemetry import BoundOnce


class RouteInfo:
    """What every call of one method and route template reports alike, built once."""

    __slots__ = ("_adapter", "_durations", "_method", "_route", "span_attributes", "span_name")

    def __init__(self, adapter: str, method: str, route: str, server: tuple[str, int]) -> None:
        self._adapter, self._method, self._route = adapter, method, route
        self.span_name = f"{method} {route}"
        self.span_attributes: dict[str, str | int] = {
            "http.request.method": method,
            "url.template": route,
            "server.address": server[0],
            "server.port": server[1],
        }
        # Label children by status, looked up once: `labels()` validates and locks.
        self._durations: dict[int | None, Histogram] = {}

    def duration(self, status: int | None) -> Histogram:
        """Return the duration histogram child of a status (None: no response)."""
        child = self._durations.get(status)
        if child is None:
            label = status_class(status)
            child = CALL_DURATION.labels(self._adapter, self._method, self._route, label)
            self._durations[status] = child
        return child


def report_call(
    log: BoundOnce,
    call: Call,
    route: RouteInfo,
    span: Span,
    *,
    duration: float,
    response: httpx.Response | None = None,
    error: BaseException | None = None,
) -> None:
    """Record a finished call: the duration histogram, the span's outcome and the log line.

    `error` is what the call raised: an `ExternalApiError`, or a cancellation (or a bug) that
    is logged by its type alone. The line's fields are only gathered when its level is on.
    """
    status = response.status_code if response is not None else None
    if isinstance(error, ExternalApiError):
        status = error.status
    route.duration(status).observe(duration)
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if call.attempts > 1:
        span.set_attribute("http.request.resend_count", call.attempts - 1)
    logger = log.get()
    if response is not None:
        if _enabled(logger, logging.INFO):
            logger.info(
                "external_api_call", adapter=call.adapter, method=call.method,
                route=call.route, status=status, attempts=call.attempts,
                duration_ms=round(duration * 1000, 2), outcome="ok",
                request_id=call.request_id,
            )  # fmt: skip
        return
    fields: dict[str, object] = {
        "adapter": call.adapter,
        "method": call.method,
        "route": call.route,
        "status": status,
        "attempts": call.attempts,
        "duration_ms": round(duration * 1000, 2),
    }
    if isinstance(error, ExternalApiError):
        error_type = str(status) if error.reason == "status" else error.reason
        span.set_attribute("error.type", error_type)
        span.set_status(StatusCode.ERROR, type(error).__name__)
        fields.update(
            outcome=type(error).__name__,
            reason=error.reason,
            request_id=error.request_id,
            retry_after=error.retry_after,
        )
        logger.warning("external_api_call", **fields)
    else:
        cancelled = isinstance(error, asyncio.CancelledError)
        span.set_attribute("error.type", "cancelled" if cancelled else type(error).__name__)
        fields["outcome"] = "cancelled" if cancelled else type(error).__name__
        (logger.info if cancelled else logger.error)("external_api_call", **fields)


def _enabled(logger: Any, level: int) -> bool:  # noqa: ANN401  (structlog's loggers are untyped)
    # structlog's filtering loggers answer in well under a microsecond; others are asked by
    # writing the line (a level they drop costs them nothing more).
    check = getattr(logger, "is_enabled_for", None)
    return check is None or bool(check(level))


def debug_enabled(logger: Any) -> bool:  # noqa: ANN401  (structlog's lazy proxies are untyped)
    """Tell whether `logger` would write a debug line (true when it cannot say)."""
    check = getattr(logger, "is_enabled_for", None)
    return bool(check(logging.DEBUG)) if check is not None else True


def log_bodies(
    logger: Any,  # noqa: ANN401  (structlog's lazy proxies are untyped)
    call: Call,
    response: httpx.Response | None,
    redact: Callable[[object], object],
) -> None:
    """Write the debug line with the call's redacted headers, query and bodies."""
    request = call.request
    fields: dict[str, object] = {
        "adapter": call.adapter,
        "method": call.method,
        "route": call.route,
        "request_headers": redact_headers(request.headers.items()),
        "query": redact(dict(request.url.params.multi_items())),
        "request_body": _loggable(request.headers, request.content, redact),
    }
    if response is not None:
        fields["response_body"] = _loggable(response.headers, response.content, redact)
    logger.debug("external_api_bodies", **fields)


def _loggable(
    headers: httpx.Headers,
    content: bytes,
    redact: Callable[[object], object],
) -> object:
    if not content:
        return None
    kind = headers.get("content-type", "")
    if "json" in kind:
        try:
            return redact(json.loads(content))
        except ValueError:
            pass
    # Anything that is not JSON is described, never copied: it cannot be redacted by field.
    return f"<{len(content)} bytes {kind or 'untyped'}>"
