"""Prometheus exposition of a registry, and the HTTP request histogram of a service's API."""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from typing import TYPE_CHECKING, Final

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.exposition import choose_encoder

if TYPE_CHECKING:
    from collections.abc import Iterator

    from prometheus_client.metrics_core import Metric

_METRIC_PREFIX: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


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


# prometheus_client's default buckets, which the services' HTTP histograms always had: the
# dashboards built on them keep working.
HTTP_DURATION_BUCKETS = (
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1.0,
    2.5,
    5.0,
    7.5,
    10.0,
)
_HTTP_LE = [*(repr(bound) for bound in HTTP_DURATION_BUCKETS), "+Inf"]


class HttpDurations:
    """`<namespace>_http_request_duration_seconds{method,route,status}`, a histogram.

    A custom collector rather than `prometheus_client.Histogram`: that one takes a lock per
    bucket and per sum and builds a label tuple on every observation (4 us a request); here a
    request adds to plain lists from the event loop's thread, and a scrape copies them. Get it
    with `http_durations`, once per name and process.
    """

    def __init__(self, namespace: str) -> None:
        self.name = f"{namespace}_http_request_duration_seconds"
        self._series: dict[tuple[str, str, int], list[float]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request answered with `status` after `seconds` (from the event loop)."""
        key = (method, route, status)
        series = self._series.get(key)
        if series is None:
            # counts per bucket (+Inf last), then the sum
            series = self._series.setdefault(key, [0.0] * (len(HTTP_DURATION_BUCKETS) + 2))
        series[bisect_left(HTTP_DURATION_BUCKETS, seconds)] += 1
        series[-1] += seconds

    def collect(self) -> Iterator[Metric]:
        """The histogram, read at scrape time."""
        family = HistogramMetricFamily(
            self.name,
            "Time to answer an HTTP request, by route and status (its _count counts requests).",
            labels=["method", "route", "status"],
        )
        for (method, route, status), series in list(self._series.items()):
            values = list(series)
            cumulative, buckets = 0.0, []
            for le, count in zip(_HTTP_LE, values[:-1], strict=True):
                cumulative += count
                buckets.append((le, cumulative))
            family.add_metric([method, route, str(status)], buckets, values[-1])
        yield family


_HTTP: dict[str, HttpDurations] = {}
_http_lock = threading.Lock()


def http_durations(namespace: str) -> HttpDurations:
    """The HTTP request histogram named `<namespace>_http_request_duration_seconds`.

    Registered in the default registry on first use; every app of the process built with the
    same namespace shares it (tests build many).

    Raises:
        ValueError: `namespace` is not a Prometheus metric name prefix (`[a-zA-Z_][a-zA-Z0-9_]*`).
    """
    if not _METRIC_PREFIX.fullmatch(namespace):
        raise ValueError(f"{namespace!r} is not a metric name prefix: use [a-zA-Z_][a-zA-Z0-9_]*")
    with _http_lock:
        found = _HTTP.get(namespace)
        if found is None:
            found = _HTTP[namespace] = HttpDurations(namespace)
            REGISTRY.register(found)
        return found
