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


def report_call(
    logger: Any,  # noqa: ANN401  (structlog's lazy proxies are untyped)
    call: Call,
    span: Span,
    *,
    duration: float,
    response: httpx.Response | None = None,
    error: BaseException | None = None,
) -> None:
    """Record a finished call: the duration histogram, the span's outcome and the log line.

    `error` is what the call raised: an `ExternalApiError`, or a cancellation (or a bug) that
    is logged by its type alone.
    """
    status = response.status_code if response is not None else None
    if isinstance(error, ExternalApiError):
        status = error.status
    _duration_child(call.adapter, call.method, call.route, status_class(status)).observe(duration)
    if status is not None:
        span.set_attribute("http.response.status_code", status)
    if call.attempts > 1:
        span.set_attribute("http.request.resend_count", call.attempts - 1)
    fields: dict[str, object] = {
        "adapter": call.adapter,
        "method": call.method,
        "route": call.route,
        "status": status,
        "attempts": call.attempts,
        "duration_ms": round(duration * 1000, 2),
    }
    if response is not None:
        fields.update(outcome="ok", request_id=call.request_id)
        logger.info("external_api_call", **fields)
    elif isinstance(error, ExternalApiError):
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


# Label children, looked up once: `labels()` validates and locks on every call.
_CHILDREN: dict[tuple[str, str, str, str], Histogram] = {}


def _duration_child(adapter: str, method: str, route: str, status: str) -> Histogram:
    key = (adapter, method, route, status)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = CALL_DURATION.labels(*key)
    return child
