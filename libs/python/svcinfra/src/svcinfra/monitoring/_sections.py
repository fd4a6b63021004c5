"""The sections of a service's monitoring, one per part it runs; each alert with its test cases.

Recording rules are named `svcinfra:<what>:<how>` and keep the `service` label, so one
Prometheus holds every service's; alerts read them or the raw series, panels read the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._examples import breaker_alert, labels_of
from ._http import http_section
from ._messaging import consumer_section, outbox_section
from ._model import Alert, Example, Panel, Query, Section, Series
from ._promql import rate_sum, sel
from ._stores import cache_section, postgres_section

if TYPE_CHECKING:
    from ._model import ServiceMonitoring


def sections(spec: ServiceMonitoring) -> tuple[Section, ...]:
    """Every section of `spec`, in dashboard order."""
    parts = [_process(spec)]
    if spec.http_server is not None:
        parts.append(http_section(spec))
    if spec.postgres:
        parts.append(postgres_section(spec))
    if spec.cache:
        parts.append(cache_section(spec))
    if spec.publish:
        parts.append(outbox_section(spec))
    if spec.consume:
        parts.append(consumer_section(spec))
    if spec.external_api:
        parts.append(_external(spec))
    return tuple(parts)


def _process(spec: ServiceMonitoring) -> Section:
    s = spec.service
    target = f'up{{service="{s}",job="{s}-api",instance="10.0.0.1:8081"}}'
    ready = f'service_ready{{service="{s}",job="{s}-api",instance="10.0.0.1:8081"}}'
    where = {"service": s, "job": f"{s}-api", "instance": "10.0.0.1:8081"}
    return Section(
        key="process",
        title="Processes",
        alerts=(
            Alert(
                name="TargetDown",
                expr=f"{sel('up', s)} == 0",
                for_="5m",
                severity="critical",
                summary="{{ $labels.job }} on {{ $labels.instance }} cannot be scraped",
                description="Prometheus has not reached the tech port of {{ $labels.instance }} "
                "for 5 minutes: the process is down, restarting, or its /metrics hangs.",
                rules=(),
                examples=(
                    Example(
                        (Series(target, "1 0x10"),), "10m", fires=True, labels=labels_of(**where)
                    ),
                    Example((Series(target, "1 0 0 1x8"),), "10m", fires=False),
                ),
            ),
            Alert(
                name="ServiceNotReady",
                expr=f"{sel('service_ready', s)} == 0",
                for_="5m",
                severity="warning",
                summary="{{ $labels.job }} on {{ $labels.instance }} is not ready",
                description="The readiness probe of {{ $labels.instance }} has failed for 5 "
                "minutes (service_readiness_check_up says which check).",
                rules=(),
                examples=(
                    Example(
                        (Series(ready, "1 0x10"),), "10m", fires=True, labels=labels_of(**where)
                    ),
                    Example((Series(ready, "1x10"),), "10m", fires=False),
                ),
            ),
        ),
        panels=(
            Panel(
                title="Firing alerts",
                queries=(
                    Query(
                        f'sum by (alertname) (ALERTS{{service="{s}",alertstate="firing"}})',
                        "{{alertname}}",
                    ),
                ),
                kind="stat",
                threshold=1,
            ),
            Panel(
                title="Targets up and ready",
                queries=(
                    Query(f"sum by (job) ({sel('up', s)})", "{{job}} up"),
                    Query(f"sum by (job) ({sel('service_ready', s)})", "{{job}} ready"),
                ),
            ),
            Panel(
                title="Failing readiness checks",
                queries=(
                    Query(
                        f"sum by (check) (1 - {sel('service_readiness_check_up', s)})",
                        "{{check}}",
                    ),
                ),
            ),
        ),
    )


def _external(spec: ServiceMonitoring) -> Section:
    s = spec.service
    calls = sel("svcinfra_http_client_call_duration_seconds_count", s)
    return Section(
        key="external",
        title="External APIs",
        alerts=(
            breaker_alert(
                name="ExternalApiBreakerOpen",
                metric="svcinfra_http_client_circuit_state",
                label="adapter",
                spec=spec,
                what="external API",
                rules=("EX-3", "EX-4"),
            ),
        ),
        panels=(
            Panel(
                title="Calls by status class",
                queries=(
                    Query(
                        rate_sum("adapter, status_class", calls, "5m"),
                        "{{adapter}} {{status_class}}",
                    ),
                ),
                unit="reqps",
            ),
            Panel(
                title="Call duration p99 (retries included)",
                queries=(
                    Query(
                        "histogram_quantile(0.99, "
                        + rate_sum(
                            "adapter, le",
                            sel("svcinfra_http_client_call_duration_seconds_bucket", s),
                            "5m",
                        )
                        + ")",
                        "{{adapter}}",
                    ),
                ),
                unit="s",
            ),
            Panel(
                title="Breaker state (0 closed, 1 half-open, 2 open)",
                queries=(
                    Query(
                        f"max by (adapter) ({sel('svcinfra_http_client_circuit_state', s)})",
                        "{{adapter}}",
                    ),
                ),
                threshold=2,
            ),
            Panel(
                title="Retries and rate-limit waits",
                queries=(
                    Query(
                        rate_sum(
                            "adapter, reason", sel("svcinfra_http_client_retries_total", s), "5m"
                        ),
                        "retry {{adapter}} {{reason}}",
                    ),
                    Query(
                        rate_sum(
                            "adapter",
                            sel("svcinfra_http_client_rate_limit_wait_seconds_count", s),
                            "5m",
                        ),
                        "waited {{adapter}}",
                    ),
                ),
                unit="ops",
            ),
        ),
    )
