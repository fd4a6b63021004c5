"""What to watch in production: the parts of svcinfra users runs (its rules and dashboard).

`make monitoring` renders deploy/observability/users.* from this definition.
"""

from __future__ import annotations

from svcinfra.monitoring import HttpServer, ServiceMonitoring

MONITORING = ServiceMonitoring(
    service="users",
    postgres=True,
    cache=True,
    publish=True,
    http_server=HttpServer(duration_metric="users_http_request_duration_seconds"),
)
