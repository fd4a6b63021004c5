"""OpenTelemetry tracing: resource, per-environment sampling and the OTLP gRPC exporter."""

from __future__ import annotations

import contextlib
import contextvars
from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

if TYPE_CHECKING:
    from collections.abc import Iterator

    from opentelemetry.sdk.trace.export import SpanExporter

# A trace id drawn (and head-sampled) before the SDK was asked for the span: `drawn_trace_id`.
_DRAWN: contextvars.ContextVar[int] = contextvars.ContextVar("svcinfra_drawn_trace_id", default=0)


class _DrawnIds(RandomIdGenerator):
    """Random ids, except the trace id a caller already drew for the root span it starts now.

    The request middleware (`svcinfra.app.RequestTelemetry`) decides a new trace's sampling
    before any span exists, with the provider's own sampler and a trace id it drew; when the
    trace is sampled, the SDK must start the span with that very id, so that its sampler (the
    same ratio over the same id) agrees and the id logged is the id exported.
    """

    def generate_trace_id(self) -> int:
        return _DRAWN.get() or super().generate_trace_id()


@contextlib.contextmanager
def drawn_trace_id(trace_id: int) -> Iterator[None]:
    """Make a root span started in the block use `trace_id` (providers of `configure_tracing`)."""
    token = _DRAWN.set(trace_id)
    try:
        yield
    finally:
        _DRAWN.reset(token)


def configure_tracing(
    *,
    service: str,
    env: str,
    ratio: float,
    otlp_endpoint: str | None,
    insecure: bool = False,
    set_global: bool = True,
) -> TracerProvider:
    """Build the tracer provider of the process and (by default) make it the global one.

    Spans carry the resource attributes `service.name` and `deployment.environment.name`. A trace
    started here is sampled with probability `ratio`; a trace continued from a caller follows the
    caller's decision. A root span started inside `drawn_trace_id(id)` gets that trace id, so a
    request middleware can decide with `provider.sampler` before asking for a span (and ask for
    none when the answer is no). Spans are exported in batches over OTLP gRPC only when
    `otlp_endpoint` is set; otherwise they still give log lines their trace ids but go nowhere.

    The provider is not shut down at interpreter exit: the caller shuts it down (which flushes
    pending spans) when it closes its other resources, within its own shutdown timeout.

    Args:
        service: the `service.name` resource attribute.
        env: the `deployment.environment.name` resource attribute.
        ratio: the share of new traces sampled, from 0 to 1.
        otlp_endpoint: the collector's gRPC address (`http://jaeger:4317`); None: no exporter.
        insecure: plaintext gRPC to the collector.
        set_global: install it with `opentelemetry.trace.set_tracer_provider` (once a process).

    Raises:
        ValueError: `ratio` is outside [0, 1].
        ImportError: an endpoint is set but the `otlp` extra is not installed.
    """
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "deployment.environment.name": env}),
        sampler=ParentBased(TraceIdRatioBased(ratio)),
        shutdown_on_exit=False,
        id_generator=_DrawnIds(),
    )
    if otlp_endpoint:
        provider.add_span_processor(
            BatchSpanProcessor(_otlp_exporter(otlp_endpoint, insecure=insecure))
        )
    if set_global:
        trace.set_tracer_provider(provider)
    return provider


def _otlp_exporter(endpoint: str, *, insecure: bool) -> SpanExporter:
    try:
        # Imported here: grpc is heavy and optional (the `otlp` extra); services without an
        # endpoint never load it.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )
    except ImportError as exc:
        raise ImportError(
            "OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed; "
            "install svcinfra[otlp]",
        ) from exc
    return OTLPSpanExporter(endpoint=endpoint, insecure=insecure)
