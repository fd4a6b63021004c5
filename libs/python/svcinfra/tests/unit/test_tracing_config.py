"""Tracing is set up per service and environment, exporting over OTLP only when asked."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from svcinfra.observability import configure_tracing


def test_resource_names_the_service_and_environment() -> None:
    """Spans carry service.name and deployment.environment.name."""
    provider = configure_tracing(
        service="users", env="staging", ratio=0.5, otlp_endpoint=None, set_global=False
    )

    attributes = provider.resource.attributes
    assert attributes["service.name"] == "users"
    assert attributes["deployment.environment.name"] == "staging"


@pytest.mark.parametrize("ratio", [0.0, 0.1, 1.0], ids=str)
def test_sampler_follows_the_parent_then_the_ratio(ratio: float) -> None:
    """New traces are sampled at the ratio; continued ones follow the caller's decision."""
    provider = configure_tracing(
        service="users", env="prod", ratio=ratio, otlp_endpoint=None, set_global=False
    )

    description = provider.sampler.get_description()
    assert description.startswith("ParentBased{root:TraceIdRatioBased{")
    assert f"TraceIdRatioBased{{{ratio}}}" in description


def test_no_exporter_without_an_endpoint() -> None:
    """Without OTEL_EXPORTER_OTLP_ENDPOINT no span processor is installed."""
    provider = configure_tracing(
        service="users", env="dev", ratio=1.0, otlp_endpoint=None, set_global=False
    )

    assert provider._active_span_processor._span_processors == ()


def test_otlp_batch_exporter_with_an_endpoint() -> None:
    """With an endpoint, spans go through a batch processor to the OTLP gRPC exporter."""
    provider = configure_tracing(
        service="users",
        env="dev",
        ratio=1.0,
        otlp_endpoint="http://127.0.0.1:4317",
        insecure=True,
        set_global=False,
    )
    try:
        (processor,) = provider._active_span_processor._span_processors
        assert isinstance(processor, BatchSpanProcessor)
        assert type(processor._batch_processor._exporter).__name__ == "OTLPSpanExporter"
    finally:
        provider.shutdown()


def test_a_ratio_outside_zero_to_one_is_refused() -> None:
    """A sampling ratio above 1 is refused rather than clamped."""
    with pytest.raises(ValueError, match=r"range \[0.0, 1.0\]"):
        configure_tracing(service="x", env="dev", ratio=1.5, otlp_endpoint=None, set_global=False)
