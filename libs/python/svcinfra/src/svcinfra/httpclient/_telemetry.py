"""Metrics, the tracer and the logger of external API calls.

Metrics live in prometheus_client's default registry, as the service's `/metrics` serves it.
Labels are bounded: adapter name, method, route *template*, status class, retry reason; never
a URL, an id or a query.
"""

from __future__ import annotations

import logging
from typing import Any

import structlog
from opentelemetry import trace
from prometheus_client import Counter, Gauge, Histogram

CALL_DURATION = Histogram(
    "svcinfra_http_client_call_duration_seconds",
    "Duration of external API calls, retries and waits included.",
    ["adapter", "method", "route", "status_class"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
RETRIES = Counter(
    "svcinfra_http_client_retries",
    "Requests sent again after a temporary failure, by the failure's reason.",
    ["adapter", "route", "reason"],
)
CIRCUIT_STATE = Gauge(
    "svcinfra_http_client_circuit_state",
    "State of the adapter's circuit breaker: 0 closed, 1 half-open, 2 open.",
    ["adapter"],
)
CIRCUIT_TRANSITIONS = Counter(
    "svcinfra_http_client_circuit_transitions",
    "Circuit breaker state changes, by the state entered.",
    ["adapter", "state"],
)
RATE_LIMIT_WAIT = Histogram(
    "svcinfra_http_client_rate_limit_wait_seconds",
    "Time requests waited for the client-side rate limiter or a 429 pause.",
    ["adapter"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)

TRACER = trace.get_tracer("svcinfra.httpclient")

LOGGER_NAME = "svcinfra.httpclient"


class BoundOnce:
    """A structlog logger bound once per logging configuration, not once per line.

    `structlog.get_logger()` returns a lazy proxy that assembles a new bound logger (factory
    call, context, wrapper) on every method call, ~25 us, as much as the rest of a call's
    bookkeeping. This one keeps the assembled logger while `structlog.configure` has not been
    called again, so that reconfiguring logging (a test's capture, a service's set-up) still
    reaches adapters built before it.
    """

    __slots__ = ("_bound", "_factory", "_name", "_processors", "_wrapper")

    def __init__(self, name: str) -> None:
        self._name = name
        self._processors: object = None
        self._wrapper: object = None
        self._factory: object = None
        self._bound: Any = None

    def get(self) -> Any:  # noqa: ANN401  (structlog's bound loggers are untyped)
        """Return the logger bound under the current configuration."""
        config = structlog.get_config()
        processors = config["processors"]
        wrapper = config["wrapper_class"]
        factory = config["logger_factory"]
        # Identity, not equality: `configure` installs new objects, even equal ones.
        if (
            self._bound is None
            or processors is not self._processors
            or wrapper is not self._wrapper
            or factory is not self._factory
        ):
            self._bound = structlog.get_logger(self._name).bind()
            self._processors, self._wrapper, self._factory = processors, wrapper, factory
        return self._bound


def status_class(status: int | None) -> str:
    """Return the label of a status (`2xx`...`5xx`), or `error` when no response came back."""
    if status is None:
        return "error"
    return f"{status // 100}xx"


class _DropHttpxRequestLine(logging.Filter):
    """Drops httpx's own `HTTP Request: GET <url>` line, which quotes ids and the query."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith("HTTP Request:"))


_HTTPX_FILTER = _DropHttpxRequestLine()


def quiet_httpx_request_log() -> None:
    """Stop httpx from logging full URLs at info level; `external_api_call` replaces that line.

    httpx logs every request's URL, path ids and query (where some APIs take a key) included,
    which EX-5 forbids. Idempotent; other httpx records still pass.
    """
    logger = logging.getLogger("httpx")
    if _HTTPX_FILTER not in logger.filters:
        logger.addFilter(_HTTPX_FILTER)
