"""Every log line is one JSON object with the fields the team's log pipeline relies on."""

from __future__ import annotations

import io
import json
import logging
import threading
from datetime import UTC, datetime

import pytest
import structlog
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

from svcinfra.observability import MASK, configure_logging, get_logger
from svcinfra.testing import capture_logs


def test_structlog_line_has_the_standard_fields() -> None:
    """A line has timestamp (UTC ISO 8601), level, event, service and logger, plus its own keys."""
    with capture_logs(service="users") as logs:
        get_logger("users.api").info("user created", user_id=7)

    (entry,) = logs.entries
    assert entry["event"] == "user created"
    assert entry["level"] == "info"
    assert entry["service"] == "users"
    assert entry["logger"] == "users.api"
    assert entry["user_id"] == 7
    assert datetime.fromisoformat(entry["timestamp"]).utcoffset() == UTC.utcoffset(None)
    assert list(entry)[:3] == ["timestamp", "level", "event"]


def test_no_trace_ids_outside_a_span() -> None:
    """Outside a span, a line has no trace_id or span_id (rather than zeros)."""
    with capture_logs() as logs:
        get_logger().info("idle")

    assert "trace_id" not in logs.entries[0]
    assert "span_id" not in logs.entries[0]


def test_trace_ids_of_the_current_span_are_added() -> None:
    """Inside a span, structlog and stdlib lines carry its trace_id and span_id in hex."""
    tracer = TracerProvider().get_tracer("test")
    with capture_logs() as logs, tracer.start_as_current_span("op") as span:
        get_logger().info("inside")
        logging.getLogger("lib").warning("inside too")

    context = span.get_span_context()
    for entry in logs.entries:
        assert entry["trace_id"] == trace.format_trace_id(context.trace_id)
        assert entry["span_id"] == trace.format_span_id(context.span_id)
        assert len(entry["trace_id"]) == 32
        assert len(entry["span_id"]) == 16


def test_trace_ids_of_an_unsampled_span_are_added() -> None:
    """An unsampled (non-recording) span still gives its propagated trace id to log lines."""
    tracer = TracerProvider(sampler=ALWAYS_OFF).get_tracer("test")
    with capture_logs() as logs, tracer.start_as_current_span("op") as span:
        get_logger().info("inside")

    assert not span.is_recording()
    assert logs.entries[0]["trace_id"] == trace.format_trace_id(span.get_span_context().trace_id)


def test_stdlib_logging_is_rendered_as_json() -> None:
    """A third-party stdlib logger (uvicorn, asyncpg) writes the same JSON, args formatted."""
    with capture_logs(service="users") as logs:
        logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)

    (entry,) = logs.entries
    assert entry == {
        "timestamp": entry["timestamp"],
        "level": "info",
        "event": "Started server process [42]",
        "service": "users",
        "logger": "uvicorn.error",
    }


def test_exceptions_are_rendered_as_a_string_field() -> None:
    """An exception is one string field with the traceback, for structlog and stdlib alike."""
    with capture_logs() as logs:
        try:
            int("bad input")
        except ValueError:
            get_logger().exception("failed")
            logging.getLogger("lib").exception("failed too")

    for entry in logs.entries:
        assert entry["level"] == "error"
        assert isinstance(entry["exception"], str)
        assert entry["exception"].startswith("Traceback (most recent call last):")
        assert (
            "ValueError: invalid literal for int() with base 10: 'bad input'" in entry["exception"]
        )


@pytest.mark.parametrize("level", ["INFO", "info", "WARNING"], ids=str)
def test_lines_below_the_level_are_dropped(level: str) -> None:
    """Lines below LOG_LEVEL are dropped, from structlog and stdlib loggers alike."""
    with capture_logs(level=level) as logs:
        get_logger().debug("structlog debug")
        logging.getLogger("lib").debug("stdlib debug")
        get_logger().error("structlog error")
        logging.getLogger("lib").error("stdlib error")

    assert [e["event"] for e in logs.entries] == ["structlog error", "stdlib error"]


@pytest.mark.parametrize(
    "wire_logger", ["aiormq.connection", "aio_pika.robust_connection", "httpcore.http11"]
)
def test_drivers_never_log_wire_data_even_at_debug(wire_logger: str) -> None:
    """At DEBUG the drivers that dump frames and headers stay at INFO; others log DEBUG (CF-3)."""
    with capture_logs(level="DEBUG") as logs:
        logging.getLogger(wire_logger).debug("frame: {'email': 'someone@example.com'}")
        logging.getLogger(wire_logger).warning("connection lost")
        logging.getLogger("lib").debug("stdlib debug")

    assert [(e["logger"], e["event"]) for e in logs.entries] == [
        (wire_logger, "connection lost"),
        ("lib", "stdlib debug"),
    ]


def test_an_unknown_level_is_refused() -> None:
    """A level name outside DEBUG..CRITICAL is a ValueError, not a silent default."""
    with pytest.raises(ValueError, match="log level must be one of"):
        configure_logging(service="x", level="VERBOSE", stream=io.StringIO())


def test_context_variables_are_merged() -> None:
    """Values bound with structlog.contextvars (a request id) appear in every line."""
    with capture_logs() as logs:
        structlog.contextvars.bind_contextvars(request_id="r-1")
        try:
            get_logger().info("handled")
            logging.getLogger("lib").info("handled too")
        finally:
            structlog.contextvars.clear_contextvars()

    assert [e["request_id"] for e in logs.entries] == ["r-1", "r-1"]


def test_masking_runs_after_every_other_processor() -> None:
    """Fields added by processors (context variables, exceptions) are masked too."""
    with capture_logs(secrets=["ctx-secret-1"]) as logs:
        structlog.contextvars.bind_contextvars(note="ctx-secret-1")
        try:
            get_logger().info("x")
        finally:
            structlog.contextvars.clear_contextvars()

    assert logs.entries[0]["note"] == MASK


def test_capture_logs_restores_the_previous_setup() -> None:
    """Leaving capture_logs restores the handlers, level and secrets that were configured."""
    outer = io.StringIO()
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        configure_logging(service="outer", level="WARNING", secrets=["outer-s"], stream=outer)
        with capture_logs(secrets=["inner-s"]) as logs:
            get_logger().info("inner outer-s inner-s")
        get_logger().warning("after outer-s inner-s")
    finally:
        root.handlers, _ = saved
        root.setLevel(saved[1])
        structlog.reset_defaults()

    assert logs.entries[0]["event"] == "inner outer-s ***"
    (line,) = outer.getvalue().splitlines()
    assert json.loads(line)["event"] == "after *** inner-s"
    assert json.loads(line)["service"] == "outer"


def test_a_logger_without_a_name_is_named_after_its_module() -> None:
    with capture_logs() as logs:
        get_logger().info("unnamed")
    assert logs.entries[0]["logger"] == __name__


def test_structlog_and_stdlib_lines_from_many_threads_stay_whole_and_in_order() -> None:
    """structlog's lines go to the stream directly and stdlib's through the handler: both
    under the handler's lock, so no line is cut into another and each thread's are in order."""
    threads, per_thread = 6, 300

    def work(n: int) -> None:
        structured, plain = get_logger("svcinfra.test"), logging.getLogger("driver.test")
        for i in range(per_thread):
            if i % 2:
                plain.info("plain %d %d", n, i)
            else:
                structured.info("structured", thread=n, i=i)

    with capture_logs(level="INFO") as logs:
        workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    entries = logs.entries  # every line parses as one JSON object
    assert len(entries) == threads * per_thread
    seen: dict[int, list[int]] = {n: [] for n in range(threads)}
    for entry in entries:
        if entry["logger"] == "driver.test":
            _, n, i = entry["event"].split()
            seen[int(n)].append(int(i))
        else:
            assert entry["logger"] == "svcinfra.test"
            seen[entry["thread"]].append(entry["i"])
    assert seen == {n: list(range(per_thread)) for n in range(threads)}


class _BrokenStream(io.StringIO):
    def write(self, _text: str) -> int:
        raise OSError("stdout is gone")


def test_a_line_that_cannot_be_written_is_reported_not_raised(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """As a stdlib handler does: the caller goes on, and stderr says what failed."""
    root = logging.getLogger()
    saved = list(root.handlers), root.level
    try:
        configure_logging(service="users", stream=_BrokenStream())
        get_logger("users.api").info("lost line")
        logging.getLogger("driver").warning("lost too")
    finally:
        root.handlers, _ = saved
        root.setLevel(saved[1])
        structlog.reset_defaults()

    err = capsys.readouterr().err
    assert err.count("--- Logging error ---") == 2
    assert "stdout is gone" in err
