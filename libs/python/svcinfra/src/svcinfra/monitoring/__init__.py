"""Prometheus rules, their promtool tests and Grafana dashboards of a service, from one definition.

    MONITORING = ServiceMonitoring(
        service="users", postgres=True, cache=True, publish=True,
        http_server=HttpServer(duration_metric="users_http_request_duration_seconds"),
    )

`svcinfra monitoring render users.monitoring:MONITORING -o deploy/observability` writes the rule
file, its unit tests and the dashboard; docs/observability.md lists the alerts.
"""

from ._catalog import LIBRARY_METRICS, Metric, known_series
from ._cli import load_monitoring, monitoring, rendered_files
from ._model import (
    Alert,
    Example,
    HttpServer,
    Panel,
    Query,
    Record,
    Section,
    Series,
    ServiceMonitoring,
    Thresholds,
)
from ._promql import metric_names
from ._render import (
    dashboard_document,
    promtool_test_files,
    render_dashboard,
    render_rules,
    render_tests,
    rules_document,
)
from ._sections import sections

__all__ = [
    "LIBRARY_METRICS",
    "Alert",
    "Example",
    "HttpServer",
    "Metric",
    "Panel",
    "Query",
    "Record",
    "Section",
    "Series",
    "ServiceMonitoring",
    "Thresholds",
    "dashboard_document",
    "known_series",
    "load_monitoring",
    "metric_names",
    "monitoring",
    "promtool_test_files",
    "render_dashboard",
    "render_rules",
    "render_tests",
    "rendered_files",
    "rules_document",
    "sections",
]
