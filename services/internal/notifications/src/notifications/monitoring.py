"""What to watch in production: the parts of svcinfra notifications runs (rules and dashboard).

`make monitoring` renders deploy/observability/notifications.* from this definition.
"""

from __future__ import annotations

from svcinfra.monitoring import ServiceMonitoring

MONITORING = ServiceMonitoring(
    service="notifications",
    postgres=True,
    publish=True,
    consume=True,
    external_api=True,
)
