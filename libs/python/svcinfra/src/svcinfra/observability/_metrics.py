"""Prometheus exposition of a registry (the default one holds process and platform metrics)."""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.exposition import choose_encoder


def render_metrics(
    registry: CollectorRegistry | None = None,
    *,
    accept: str = "",
) -> tuple[bytes, str]:
    """Render every metric of `registry` for a scrape; return the body and its content type.

    Args:
        registry: what to render; prometheus_client's default registry by default, where
            module-level metrics and the process and platform collectors live.
        accept: the scraper's Accept header; OpenMetrics (which carries exemplars) when it asks
            for it, the Prometheus text format otherwise.
    """
    encoder, content_type = choose_encoder(accept)
    return encoder(REGISTRY if registry is None else registry), content_type
