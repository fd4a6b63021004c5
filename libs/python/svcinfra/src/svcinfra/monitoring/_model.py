"""What a service's monitoring is made of: the parts it runs, and the rules and panels they give.

A `ServiceMonitoring` names the parts of svcinfra a service uses (PostgreSQL, the cache, the
outbox relay, a consumer, an HTTP API, external APIs). Each part yields a `Section`: recording
rules, alerts and dashboard panels built from the same expressions, so an alert and the panel a
responder opens show the same series. Each alert carries the input series promtool's unit tests
replay to see it fire and stay quiet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["critical", "warning"]
Unit = Literal["short", "s", "percentunit", "ops", "reqps"]


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpServer:
    """The service's HTTP server histogram and its two SLOs (availability and latency).

    `duration_metric` is a histogram with a `status` label (the HTTP status code) whose
    `_count` counts requests; `latency_threshold` must be one of its bucket bounds.
    """

    duration_metric: str
    status_label: str = "status"
    availability_objective: float = 0.999
    latency_threshold: float = 0.5
    latency_objective: float = 0.99


@dataclass(frozen=True, slots=True, kw_only=True)
class Thresholds:
    """The numbers the alerts compare with; the defaults suit the reference services."""

    outbox_lag_p99_seconds: float = 30.0
    outbox_pending_rows: int = 1000
    consumer_error_ratio: float = 0.01
    consumer_retry_ratio: float = 0.10
    cache_hit_ratio_drop: float = 0.5
    cache_min_lookups_per_second: float = 1.0
    db_error_ratio: float = 0.05
    db_min_queries_per_second: float = 0.1
    min_messages_per_second: float = 0.05


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceMonitoring:
    """One service's monitoring: its name (the `service` label scrapes carry) and its parts."""

    service: str
    postgres: bool = False
    cache: bool = False
    publish: bool = False
    consume: bool = False
    http_server: HttpServer | None = None
    external_api: bool = False
    thresholds: Thresholds = field(default_factory=Thresholds)

    def __post_init__(self) -> None:
        if not self.service.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"service name {self.service!r}: letters, digits, - and _ only")

    @property
    def selector(self) -> str:
        """The label matcher every expression of this service carries."""
        return f'service="{self.service}"'


@dataclass(frozen=True, slots=True)
class Record:
    """A recording rule."""

    record: str
    expr: str


@dataclass(frozen=True, slots=True)
class Series:
    """An input series of a promtool unit test: `name{labels}` and promtool's expanding notation."""

    series: str
    values: str


@dataclass(frozen=True, slots=True)
class Example:
    """A promtool unit test case: these series, evaluated at `at`, fire the alert or do not."""

    series: tuple[Series, ...]
    at: str
    fires: bool
    labels: tuple[tuple[str, str], ...] = ()
    interval: str = "1m"


@dataclass(frozen=True, slots=True, kw_only=True)
class Alert:
    """An alerting rule, the rule IDs it watches over, and its unit test cases."""

    name: str
    expr: str
    for_: str
    severity: Severity
    summary: str
    description: str
    rules: tuple[str, ...]
    examples: tuple[Example, ...]


@dataclass(frozen=True, slots=True)
class Query:
    """One line of a panel."""

    expr: str
    legend: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Panel:
    """A dashboard panel: a time series (or a single stat) of one or more queries."""

    title: str
    queries: tuple[Query, ...]
    unit: Unit = "short"
    kind: Literal["timeseries", "stat"] = "timeseries"
    threshold: float | None = None
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Section:
    """The rules, alerts and panels of one part of a service (a rule group, a dashboard row)."""

    key: str
    title: str
    records: tuple[Record, ...] = ()
    alerts: tuple[Alert, ...] = ()
    panels: tuple[Panel, ...] = ()
