"""JSON logs on stdout for structlog and stdlib logging alike, with trace ids and masked secrets."""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, cast

import structlog
from opentelemetry import trace

from ._masking import MASKER

if TYPE_CHECKING:
    from collections.abc import Iterable, MutableMapping
    from typing import TextIO

    from structlog.typing import FilteringBoundLogger, Processor

LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# Loggers that third-party servers configure with handlers of their own; ours replace them.
_THIRD_PARTY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
# Drivers that log wire data at DEBUG: aiormq whole AMQP frames (payloads: personal data),
# httpcore request and response headers (Authorization). They never log below INFO, whatever
# LOG_LEVEL says; their warnings and errors still pass.
WIRE_LOGGERS = ("aiormq", "aio_pika", "httpcore")


def add_trace_ids(
    _logger: object,
    _method_name: str,
    event_dict: MutableMapping[str, Any],
) -> MutableMapping[str, Any]:
    """Add `trace_id` and `span_id` (hex) of the current OpenTelemetry span, if there is one.

    Ids are added for any valid span context, sampled or not: an unsampled request still carries
    the trace id its caller propagated, and that id is what joins its logs across services.
    """
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = trace.format_trace_id(context.trace_id)
        event_dict["span_id"] = trace.format_span_id(context.span_id)
    return event_dict


class _AddService:
    """Processor that sets the `service` field of every event."""

    __slots__ = ("_service",)

    def __init__(self, service: str) -> None:
        self._service = service

    def __call__(
        self,
        _logger: object,
        _method_name: str,
        event_dict: MutableMapping[str, Any],
    ) -> MutableMapping[str, Any]:
        event_dict["service"] = self._service
        return event_dict


_LEADING_KEYS = ("timestamp", "level", "event", "service", "logger", "trace_id", "span_id")


def _order_keys(
    _logger: object,
    _method_name: str,
    event_dict: MutableMapping[str, Any],
) -> MutableMapping[str, Any]:
    """Put the fields every line has first, so that lines read alike."""
    ordered = {key: event_dict.pop(key) for key in _LEADING_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


class _LineLogger:
    """structlog's logger here: writes each rendered line to the handler's stream.

    Lines of structlog loggers are rendered by structlog's own chain and written straight to
    the stream, under the handler's lock, so that they never interleave with stdlib lines. They
    used to go through stdlib logging as well (a `LogRecord`, the caller's frame looked up, the
    handler, `ProcessorFormatter` copying the record): the same line for ~40 % more CPU, 34 us
    against 20 here, and a service logs one to a few lines per request or message.
    """

    __slots__ = ("_handler", "name")

    def __init__(self, name: str, handler: logging.StreamHandler[TextIO]) -> None:
        self.name = name  # the `logger` field (structlog's `add_logger_name` reads it)
        self._handler = handler

    def msg(self, message: str) -> None:
        """Write one line, as `StreamHandler.emit` does (a write error is reported, not raised)."""
        handler = self._handler
        handler.acquire()
        try:
            stream = handler.stream
            stream.write(message + handler.terminator)
            stream.flush()
        except Exception:  # noqa: BLE001  (logging never breaks the caller)
            handler.handleError(logging.makeLogRecord({"msg": message}))
        finally:
            handler.release()

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


class _LineLoggerFactory:
    """Makes `_LineLogger`s, named as stdlib's factory names its loggers.

    Without a name, that is the module of the first frame outside structlog and this module.
    """

    __slots__ = ("_handler", "_names")

    def __init__(self, handler: logging.StreamHandler[TextIO]) -> None:
        self._handler = handler
        # Its frame search skips structlog's frames; this module's are skipped too.
        self._names = structlog.stdlib.LoggerFactory(ignore_frame_names=[__name__])

    def __call__(self, *args: Any) -> _LineLogger:  # noqa: ANN401  (structlog's factory protocol)
        return _LineLogger(self._names(*args).name, self._handler)


def _level_number(level: str) -> int:
    name = level.upper()
    if name not in LEVELS:
        raise ValueError(f"log level must be one of {', '.join(LEVELS)}, not {level!r}")
    return cast("int", logging.getLevelName(name))


def configure_logging(
    *,
    service: str,
    level: str = "INFO",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """Send every log line, structlog's and stdlib logging's, to `stream` as one JSON object.

    Each line has `timestamp` (UTC, ISO 8601), `level`, `event`, `logger`, `service`, and
    `trace_id`/`span_id` inside a span; an exception is rendered as a string in `exception`.
    Stdlib loggers (uvicorn, asyncpg, ...) go through the same processors, so their lines are
    JSON and masked too. Secrets are masked last, just before rendering (see `SecretMasker`).

    Calling it again reconfigures everything, replacing the registered secrets with `secrets`.

    Args:
        service: the value of the `service` field.
        level: the lowest level logged: DEBUG, INFO, WARNING, ERROR or CRITICAL.
        secrets: values to mask wherever they appear (`Config.secret_values()`).
        stream: where lines go; `sys.stdout` (as it is at call time) by default.

    Raises:
        ValueError: `level` is not one of the names above.
    """
    number = _level_number(level)
    MASKER.clear()
    MASKER.register(secrets)

    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
        _AddService(service),
        add_trace_ids,
    ]
    rendering: list[Processor] = [
        structlog.processors.format_exc_info,
        _order_keys,
        MASKER,
        structlog.processors.JSONRenderer(),
    ]
    handler = logging.StreamHandler(sys.stdout if stream is None else stream)
    # stdlib loggers (uvicorn, asyncpg, ...): their records through the same processors.
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *rendering],
        )
    )
    structlog.configure(
        processors=[*shared, structlog.processors.StackInfoRenderer(), *rendering],
        logger_factory=_LineLoggerFactory(handler),
        wrapper_class=structlog.make_filtering_bound_logger(number),
        context_class=dict,
        # Not cached: tests and reconfiguration must reach loggers that were already used.
        cache_logger_on_first_use=False,
    )

    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(number)
    for name in _THIRD_PARTY_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    for name in WIRE_LOGGERS:
        logging.getLogger(name).setLevel(max(number, logging.INFO))


def get_logger(name: str | None = None, **initial_values: Any) -> FilteringBoundLogger:  # noqa: ANN401  (any JSON-able value)
    """Return a structlog logger named `name` (the caller's module by default)."""
    args = () if name is None else (name,)
    return cast("FilteringBoundLogger", structlog.get_logger(*args, **initial_values))
