"""Capture of the JSON log lines a service writes, for tests of services and of svcinfra."""

from __future__ import annotations

import io
import json
import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import structlog

from svcinfra.observability import configure_logging
from svcinfra.observability._masking import MASKER

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator


class CapturedLogs:
    """The lines written while `capture_logs` was active, raw and parsed."""

    __slots__ = ("_stream",)

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        """Everything written, as the process would have written it to stdout."""
        return self._stream.getvalue()

    @property
    def lines(self) -> list[str]:
        """Every line written, without its newline."""
        return self.text.splitlines()

    @property
    def entries(self) -> list[dict[str, Any]]:
        """Every line parsed as JSON (a line that is not JSON fails the test loudly)."""
        return [json.loads(line) for line in self.lines]

    def find(self, event: str) -> list[dict[str, Any]]:
        """Return the entries whose `event` is `event`."""
        return [entry for entry in self.entries if entry.get("event") == event]


@contextmanager
def capture_logs(
    *,
    service: str = "test",
    level: str = "DEBUG",
    secrets: Iterable[str] = (),
) -> Iterator[CapturedLogs]:
    """Configure logging as a service would, but into memory; restore the old setup on exit.

    Unlike `structlog.testing.capture_logs`, which short-circuits the processors, this runs the
    real chain (stdlib loggers, trace ids, masking, the JSON renderer), so a test sees exactly
    the lines the service would print. Not thread-safe, like logging configuration itself.

        with capture_logs(secrets=["s3cret"]) as logs:
            get_logger().info("connecting", dsn="postgres://u:s3cret@db/users")
        assert "s3cret" not in logs.text

    Args:
        service: the `service` field of every line.
        level: the lowest level captured.
        secrets: values to mask, as `Config.secret_values()` would give them.
    """
    was_configured = structlog.is_configured()
    old_config = structlog.get_config()
    root = logging.getLogger()
    old_handlers, old_level = list(root.handlers), root.level
    old_secrets = MASKER.secrets
    stream = io.StringIO()
    try:
        configure_logging(service=service, level=level, secrets=secrets, stream=stream)
        yield CapturedLogs(stream)
    finally:
        if was_configured:
            structlog.configure(**old_config)
        else:
            structlog.reset_defaults()
        root.handlers = old_handlers
        root.setLevel(old_level)
        MASKER.clear()
        MASKER.register(old_secrets)
