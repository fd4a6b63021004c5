"""Logs, traces and metrics of a service: JSON lines with trace ids, OTLP spans, Prometheus.

    configure_logging(service="users", level="INFO", secrets=config.secret_values())
    provider = configure_tracing(service="users", env="prod", ratio=0.1,
                                 otlp_endpoint="http://jaeger:4317", insecure=True)
    log = get_logger(__name__)
    log.info("user created", user_id=user.id)   # {"event": "user created", "trace_id": ...}

An API's request trace (the W3C `traceparent` read, head sampling on the id it logs) and its
HTTP histogram are built from `parse_traceparent`, `new_trace_id`, `unsampled_span`,
`drawn_trace_id` and `http_durations`; `svcinfra.app.RequestTelemetry` puts them together.

Secrets never reach a log line: registered values, secret-named keys and URL passwords are
masked after every other processor, for structlog and stdlib loggers alike (CF-3).
"""

from svcinfra.config import MASK

from ._logging import LEVELS, add_trace_ids, configure_logging, get_logger
from ._masking import SecretMasker, is_secret_key, mask_secrets, register_secrets
from ._metrics import HttpDurations, http_durations, render_metrics
from ._propagation import new_trace_id, parse_traceparent, unsampled_span
from ._tracing import configure_tracing, drawn_trace_id

__all__ = [
    "LEVELS",
    "MASK",
    "HttpDurations",
    "SecretMasker",
    "add_trace_ids",
    "configure_logging",
    "configure_tracing",
    "drawn_trace_id",
    "get_logger",
    "http_durations",
    "is_secret_key",
    "mask_secrets",
    "new_trace_id",
    "parse_traceparent",
    "register_secrets",
    "render_metrics",
    "unsampled_span",
]
