"""The sections of a service's monitoring, one per part it runs; each alert with its test cases.

Recording rules are named `svcinfra:<what>:<how>` and keep the `service` label, so one
Prometheus holds every service's; alerts read them or the raw series, panels read the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._model import Alert, Example, Panel, Query, Record, Section, Series
from ._promql import increase_or_new, rate_sum, ratio, sel

if TYPE_CHECKING:
    from ._model import ServiceMonitoring

# Multi-window, multi-burn-rate alerts (Google SRE workbook, ch. 5): (long, short, burn rate).
FAST_BURN = (("1h", "5m", 14.4), ("6h", "30m", 6.0))
# The workbook's (1d, 2h, 3x) pair is left out: over 1d, 3x the budget is already 1x over 3d,
# and 3x over 2h is 1x over 6h, so it never fires without (3d, 6h, 1x).
SLOW_BURN = (("3d", "6h", 1.0),)
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def sections(spec: ServiceMonitoring) -> tuple[Section, ...]:
    """Every section of `spec`, in dashboard order."""
    parts = [_process(spec)]
    if spec.http_server is not None:
        parts.append(_http(spec))
    if spec.postgres:
        parts.append(_postgres(spec))
    if spec.cache:
        parts.append(_cache(spec))
    if spec.publish:
        parts.append(_outbox(spec))
    if spec.consume:
        parts.append(_consumer(spec))
    if spec.external_api:
        parts.append(_external(spec))
    return tuple(parts)


def _counter(segments: tuple[tuple[int, float], ...]) -> str:
    """Promtool's notation of a counter growing by `increment` a step for `steps` steps, in turn."""
    parts = []
    value = 0.0
    for i, (steps, increment) in enumerate(segments):
        first = value if i == 0 else value + increment
        count = steps if i == 0 else steps - 1
        parts.append(f"{first:g}+{increment:g}x{count}")
        value = first + increment * count
    return " ".join(parts)


def _series(metric: str, service: str, **labels: str) -> str:
    """An input series of a unit test: `metric{service=...,labels...,instance="a"}`."""
    every = {"service": service, **labels, "instance": "a"}
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in every.items()) + "}"


def _labels(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


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
                        (Series(target, "1 0x10"),), "10m", fires=True, labels=_labels(**where)
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
                    Example((Series(ready, "1 0x10"),), "10m", fires=True, labels=_labels(**where)),
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


def _burn_alert(
    spec: ServiceMonitoring,
    *,
    name: str,
    record: str,
    budget: float,
    windows: tuple[tuple[str, str, float], ...],
    severity: str,
    what: str,
    examples: tuple[Example, ...],
) -> Alert:
    s = spec.service
    conditions = [
        f'(\n  {record}:rate{long}{{service="{s}"}} > ({factor} * {budget})\n'
        f'  and {record}:rate{short}{{service="{s}"}} > ({factor} * {budget})\n)'
        for long, short, factor in windows
    ]
    fast = severity == "critical"
    return Alert(
        name=name,
        expr="\nor\n".join(conditions),
        for_="2m" if fast else "15m",
        severity="critical" if fast else "warning",
        summary=f"{{{{ $labels.service }}}} burns its {what} error budget "
        + ("fast" if fast else "steadily"),
        description=(
            f"At this rate the {what} SLO's 30-day error budget lasts "
            + (
                "under 2 days (14.4x over 1h, or 6x over 6h)"
                if fast
                else "no longer than the 30 days (1x or more over 3 days)"
            )
            + ", confirmed over the short window."
        ),
        rules=(),
        examples=examples,
    )


def _http(spec: ServiceMonitoring) -> Section:
    http = spec.http_server
    assert http is not None  # noqa: S101  (called only when the service has an HTTP server)
    s = spec.service
    count = f"{http.duration_metric}_count"
    bucket = f"{http.duration_metric}_bucket"
    le = repr(float(http.latency_threshold))
    error_budget = round(1 - http.availability_objective, 6)
    latency_budget = round(1 - http.latency_objective, 6)
    server_errors = sel(count, s, f'{http.status_label}=~"5.."')
    records = [
        Record(
            f"svcinfra:http_server_error_ratio:rate{w}",
            ratio("service", server_errors, sel(count, s), w),
        )
        for w in BURN_WINDOWS
    ]
    fast_requests = sel(bucket, s, f'le="{le}"')
    for w in BURN_WINDOWS:
        fast = rate_sum("service", fast_requests, w)
        records.append(
            Record(
                f"svcinfra:http_server_slow_ratio:rate{w}",
                f"1 - (\n  {fast}\n  / {rate_sum('service', sel(count, s), w)}\n)",
            )
        )
    ok = f'{count}{{service="{s}",{http.status_label}="200",method="GET",route="/x"}}'
    failed = f'{count}{{service="{s}",{http.status_label}="503",method="GET",route="/x"}}'
    fast_le = (
        f'{bucket}{{service="{s}",{http.status_label}="200",method="GET",route="/x",le="{le}"}}'
    )
    who = _labels(service=s)
    errors_1h = f'svcinfra:http_server_error_ratio:rate1h{{service="{s}"}}'
    slow_1h = f'svcinfra:http_server_slow_ratio:rate1h{{service="{s}"}}'

    # Requests per step: 1000; the budget is 1 bad request per 1000 (x budget ratio).
    def case(
        bad: str, segments: tuple[tuple[int, float], ...], step: str, *, fires: bool
    ) -> Example:
        """`segments`: (steps, burn rate); the bad series grows by burn x budget x 1000 a step."""
        steps = sum(n for n, _ in segments)
        budget = error_budget if bad == "errors" else latency_budget
        increments = tuple((n, rate * budget * 1000) for n, rate in segments)
        if bad == "errors":
            series = (Series(ok, f"0+1000x{steps}"), Series(failed, _counter(increments)))
        else:
            good = tuple((n, 1000 - i) for n, i in increments)
            series = (Series(ok, f"0+1000x{steps}"), Series(fast_le, _counter(good)))
        at = f"{steps * int(step[:-1])}{step[-1]}"
        return Example(series, at, fires=fires, labels=who if fires else (), interval=step)

    def fast_cases(bad: str) -> tuple[Example, ...]:
        return (
            # 20x over the last hour only: the 1h/5m pair (the 6h average is 5x).
            case(bad, ((180, 0), (60, 20)), "1m", fires=True),
            # 8x for 2 hours: the 6h/30m pair (under 14.4x over the last hour).
            case(bad, ((120, 8),), "1m", fires=True),
            # 20x for an hour that ended 10 minutes ago: the 5m window sees it is over.
            case(bad, ((170, 0), (60, 20), (10, 0)), "1m", fires=False),
            case(bad, ((60, 0.5),), "1m", fires=False),
        )

    def slow_cases(bad: str) -> tuple[Example, ...]:
        return (
            case(bad, ((144, 1.5),), "30m", fires=True),  # 1.5x for 3 days
            case(bad, ((142, 0), (2, 30)), "30m", fires=False),  # an hour at 30x: a fast burn
            case(bad, ((144, 0.5),), "30m", fires=False),
        )

    alerts = (
        _burn_alert(
            spec,
            name="HttpErrorBudgetBurnFast",
            record="svcinfra:http_server_error_ratio",
            budget=error_budget,
            windows=FAST_BURN,
            severity="critical",
            what="availability (5xx)",
            examples=fast_cases("errors"),
        ),
        _burn_alert(
            spec,
            name="HttpErrorBudgetBurnSlow",
            record="svcinfra:http_server_error_ratio",
            budget=error_budget,
            windows=SLOW_BURN,
            severity="warning",
            what="availability (5xx)",
            examples=slow_cases("errors"),
        ),
        _burn_alert(
            spec,
            name="HttpLatencyBudgetBurnFast",
            record="svcinfra:http_server_slow_ratio",
            budget=latency_budget,
            windows=FAST_BURN,
            severity="critical",
            what=f"latency ({http.latency_objective:.0%} under {http.latency_threshold} s)",
            examples=fast_cases("latency"),
        ),
        _burn_alert(
            spec,
            name="HttpLatencyBudgetBurnSlow",
            record="svcinfra:http_server_slow_ratio",
            budget=latency_budget,
            windows=SLOW_BURN,
            severity="warning",
            what=f"latency ({http.latency_objective:.0%} under {http.latency_threshold} s)",
            examples=slow_cases("latency"),
        ),
    )
    return Section(
        key="http",
        title="HTTP API",
        records=tuple(records),
        alerts=alerts,
        panels=(
            Panel(
                title="Requests by status",
                queries=(
                    Query(
                        rate_sum(http.status_label, sel(count, s), "5m"),
                        f"{{{{{http.status_label}}}}}",
                    ),
                ),
                unit="reqps",
            ),
            Panel(
                title="5xx ratio (objective: budget line)",
                queries=(
                    Query(f'svcinfra:http_server_error_ratio:rate5m{{service="{s}"}}', "5m"),
                    Query(f'svcinfra:http_server_error_ratio:rate1h{{service="{s}"}}', "1h"),
                ),
                unit="percentunit",
                threshold=error_budget,
            ),
            Panel(
                title=f"Requests slower than {http.latency_threshold} s",
                queries=(
                    Query(f'svcinfra:http_server_slow_ratio:rate5m{{service="{s}"}}', "5m"),
                    Query(f'svcinfra:http_server_slow_ratio:rate1h{{service="{s}"}}', "1h"),
                ),
                unit="percentunit",
                threshold=latency_budget,
            ),
            Panel(
                title="Latency p99 by route",
                queries=(
                    Query(
                        "histogram_quantile(0.99, "
                        + rate_sum("route, le", sel(bucket, s), "5m")
                        + ")",
                        "{{route}}",
                    ),
                ),
                unit="s",
                threshold=http.latency_threshold,
            ),
            Panel(
                title="Error budget burn rate (1h)",
                queries=(
                    Query(
                        f"{errors_1h} / {error_budget}",
                        "availability",
                    ),
                    Query(
                        f"{slow_1h} / {latency_budget}",
                        "latency",
                    ),
                ),
                threshold=FAST_BURN[0][2],
            ),
        ),
    )


def _postgres(spec: ServiceMonitoring) -> Section:
    s, t = spec.service, spec.thresholds
    queries = sel("svcinfra_db_query_duration_seconds_count", s)
    # Conflict, InvalidArgument (and NotFound, never counted) are answers to the request.
    errors = sel("svcinfra_db_query_errors_total", s, 'error!~"Conflict|InvalidArgument|NotFound"')
    waiting = f'svcinfra_db_pool_waiting{{service="{s}",db="{s}",instance="a"}}'
    count = f'svcinfra_db_query_duration_seconds_count{{service="{s}",query="q",instance="a"}}'
    timeouts = (
        f'svcinfra_db_query_errors_total{{service="{s}",query="q",error="Timeout",instance="a"}}'
    )
    conflicts = (
        f'svcinfra_db_query_errors_total{{service="{s}",query="q",error="Conflict",instance="a"}}'
    )
    return Section(
        key="postgres",
        title="PostgreSQL",
        records=(
            Record("svcinfra:db_queries:rate5m", rate_sum("service", queries, "5m")),
            Record("svcinfra:db_error_ratio:rate5m", ratio("service", errors, queries, "5m")),
            Record(
                "svcinfra:db_pool_utilization:ratio",
                f"sum by (service, db) ({sel('svcinfra_db_pool_in_use', s)})\n"
                f"/ (sum by (service, db) ({sel('svcinfra_db_pool_size', s)}) > 0)",
            ),
        ),
        alerts=(
            Alert(
                name="DatabasePoolSaturated",
                expr=f"sum by (service, db) ({sel('svcinfra_db_pool_waiting', s)}) > 0",
                for_="5m",
                severity="warning",
                summary="Queries of {{ $labels.service }} wait for a {{ $labels.db }} connection",
                description="Every pooled connection has been in use, with queries queued, for "
                "5 minutes: raise the pool size within PostgreSQL's budget, or find the slow "
                "queries holding connections (PG-5).",
                rules=("PG-5", "PG-11"),
                examples=(
                    Example(
                        (Series(waiting, "0 2x10"),),
                        "10m",
                        fires=True,
                        labels=_labels(service=s, db=s),
                    ),
                    Example((Series(waiting, "0 3 0x8"),), "10m", fires=False),
                ),
            ),
            Alert(
                name="DatabaseErrorRatioHigh",
                expr=f'svcinfra:db_error_ratio:rate5m{{service="{s}"}} > {t.db_error_ratio}\n'
                f'and svcinfra:db_queries:rate5m{{service="{s}"}} > {t.db_min_queries_per_second}',
                for_="5m",
                severity="critical",
                summary="{{ $labels.service }}: named queries fail",
                description=f"More than {t.db_error_ratio:.0%} of the named queries have failed "
                "for 5 minutes (timeouts, unavailable, query errors; conflicts and invalid "
                "arguments excluded). svcinfra_db_query_errors_total says which query and why.",
                rules=("PG-11",),
                examples=(
                    Example(
                        (Series(count, "0+60x20"), Series(timeouts, "0+6x20")),
                        "20m",
                        fires=True,
                        labels=_labels(service=s),
                    ),
                    Example(
                        (Series(count, "0+60x20"), Series(conflicts, "0+30x20")),
                        "20m",
                        fires=False,
                    ),
                ),
            ),
        ),
        panels=(
            Panel(
                title="Queries and failures",
                queries=(
                    Query(f'svcinfra:db_queries:rate5m{{service="{s}"}}', "queries"),
                    Query(
                        rate_sum("error", sel("svcinfra_db_query_errors_total", s), "5m"),
                        "{{error}}",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                title="Failure ratio",
                queries=(Query(f'svcinfra:db_error_ratio:rate5m{{service="{s}"}}', "errors"),),
                unit="percentunit",
                threshold=t.db_error_ratio,
            ),
            Panel(
                title="Query latency p99",
                queries=(
                    Query(
                        "histogram_quantile(0.99, "
                        + rate_sum(
                            "query, le", sel("svcinfra_db_query_duration_seconds_bucket", s), "5m"
                        )
                        + ")",
                        "{{query}}",
                    ),
                ),
                unit="s",
            ),
            Panel(
                title="Connection pool",
                queries=(
                    Query(f"sum by (db) ({sel('svcinfra_db_pool_size', s)})", "{{db}} open"),
                    Query(f"sum by (db) ({sel('svcinfra_db_pool_in_use', s)})", "{{db}} in use"),
                    Query(f"sum by (db) ({sel('svcinfra_db_pool_waiting', s)})", "{{db}} waiting"),
                ),
            ),
            Panel(
                title="Transaction retries",
                queries=(
                    Query(
                        rate_sum("sqlstate", sel("svcinfra_db_transaction_retries_total", s), "5m"),
                        "{{sqlstate}}",
                    ),
                ),
                unit="ops",
            ),
        ),
    )


def _breaker(
    *,
    name: str,
    metric: str,
    label: str,
    spec: ServiceMonitoring,
    what: str,
    rules: tuple[str, ...],
) -> Alert:
    s = spec.service
    state = f'{metric}{{service="{s}",{label}="main",instance="a"}}'
    return Alert(
        name=name,
        # The breaker half-opens to probe, then opens again: the worst state of the last two
        # minutes, so that the probes do not reset the alert's clock.
        expr=f"max by (service, {label}) (max_over_time({sel(metric, s)}[2m])) == 2",
        for_="5m",
        severity="warning",
        summary=f"{{{{ $labels.service }}}}: the breaker of {what} {{{{ $labels.{label} }}}} "
        "is open",
        description=f"Calls to {what} have been refused by the circuit breaker for 5 minutes: "
        "the dependency fails or times out, and the service runs degraded.",
        rules=rules,
        examples=(
            Example(
                (Series(state, "0 2x10"),),
                "10m",
                fires=True,
                labels=_labels(service=s, **{label: "main"}),
            ),
            Example(
                (Series(state, "0 2 1 2 1 2 1 2 1 2 1"),),
                "10m",
                fires=True,
                labels=_labels(service=s, **{label: "main"}),
            ),
            Example((Series(state, "0 2 0x9"),), "4m", fires=False),
        ),
    )


def _cache(spec: ServiceMonitoring) -> Section:
    s, t = spec.service, spec.thresholds
    lookups = sel("svcinfra_cache_lookups_total", s)
    hits = sel("svcinfra_cache_lookups_total", s, 'result=~"hit|negative_hit"')
    hit = _series("svcinfra_cache_lookups_total", s, namespace="users", result="hit")
    miss = _series("svcinfra_cache_lookups_total", s, namespace="users", result="miss")
    ratio_now = f'svcinfra:cache_hit_ratio:rate10m{{service="{s}"}}'
    lookups_now = f'svcinfra:cache_lookups:rate10m{{service="{s}"}}'
    return Section(
        key="cache",
        title="Cache (Redis)",
        records=(
            Record(
                "svcinfra:cache_lookups:rate10m", rate_sum("service, namespace", lookups, "10m")
            ),
            Record(
                "svcinfra:cache_hit_ratio:rate10m",
                ratio("service, namespace", hits, lookups, "10m"),
            ),
        ),
        alerts=(
            Alert(
                name="CacheHitRatioDropped",
                expr=f"{ratio_now}\n  < {t.cache_hit_ratio_drop} * avg_over_time({ratio_now}[1d])\n"
                f"and {lookups_now} > {t.cache_min_lookups_per_second}",
                for_="15m",
                severity="warning",
                summary="{{ $labels.service }}: cache {{ $labels.namespace }} hits far less "
                "than usual",
                description="The hit ratio of the last 10 minutes is under "
                f"{t.cache_hit_ratio_drop:.0%} "
                "of its average over a day: keys expire early, a deploy changed the key schema, "
                "or Redis lost its data; the source of truth takes the load (RD-7).",
                rules=("RD-7",),
                examples=(
                    Example(
                        (Series(hit, "0+90x60 5400+10x60"), Series(miss, "0+10x60 600+90x60")),
                        "120m",
                        fires=True,
                        labels=_labels(service=s, namespace="users"),
                    ),
                    Example(
                        (Series(hit, "0+90x120"), Series(miss, "0+10x120")), "120m", fires=False
                    ),
                    Example(
                        (Series(hit, "0+0.9x60 54+0.1x60"), Series(miss, "0+0.1x60 6+0.9x60")),
                        "120m",
                        fires=False,
                    ),
                ),
            ),
            _breaker(
                name="CacheBreakerOpen",
                metric="svcinfra_cache_breaker_state",
                label="client",
                spec=spec,
                what="Redis client",
                rules=("RD-1", "RD-7"),
            ),
        ),
        panels=(
            Panel(
                title="Hit ratio by namespace",
                queries=(Query(ratio_now, "{{namespace}}"),),
                unit="percentunit",
            ),
            Panel(
                title="Lookups by result",
                queries=(Query(rate_sum("result", lookups, "5m"), "{{result}}"),),
                unit="ops",
            ),
            Panel(
                title="Redis errors absorbed",
                queries=(
                    Query(
                        rate_sum("operation", sel("svcinfra_cache_errors_total", s), "5m"),
                        "{{operation}}",
                    ),
                    Query(
                        rate_sum("namespace", sel("svcinfra_cache_decode_errors_total", s), "5m"),
                        "decode {{namespace}}",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                title="Breaker state (0 closed, 1 half-open, 2 open)",
                queries=(
                    Query(
                        f"max by (client) ({sel('svcinfra_cache_breaker_state', s)})", "{{client}}"
                    ),
                ),
                threshold=2,
            ),
            Panel(
                title="Redis round trip p99",
                queries=(
                    Query(
                        "histogram_quantile(0.99, "
                        + rate_sum(
                            "operation, le", sel("svcinfra_cache_operation_seconds_bucket", s), "5m"
                        )
                        + ")",
                        "{{operation}}",
                    ),
                ),
                unit="s",
            ),
            Panel(
                title="Pool connections",
                queries=(
                    Query(
                        f"sum by (client, state) ({sel('svcinfra_cache_pool_connections', s)})",
                        "{{client}} {{state}}",
                    ),
                    Query(
                        f"sum by (client) ({sel('svcinfra_cache_pool_max_connections', s)})",
                        "{{client}} max",
                    ),
                ),
            ),
        ),
    )


def _outbox(spec: ServiceMonitoring) -> Section:
    s, t = spec.service, spec.thresholds
    lag = "svcinfra:outbox_lag_seconds:p99_5m"
    pending = f'svcinfra_amqp_outbox_pending{{service="{s}",instance="a"}}'
    relayed = f'svcinfra_amqp_outbox_relayed_total{{service="{s}",message="m.v1",instance="a"}}'
    parked = _series("svcinfra_amqp_outbox_parked_total", s, message="m.v1", reason="invalid")
    restarts = (
        f'svcinfra_amqp_outbox_relay_restarts_total{{service="{s}",reason="database",instance="a"}}'
    )
    blocked = f'svcinfra_amqp_publisher_blocked_now{{service="{s}",publisher="relay",instance="a"}}'

    def lag_case(*, slow: bool) -> Example:
        def b(le: str, values: str) -> Series:
            name = "svcinfra_amqp_outbox_lag_seconds_bucket"
            return Series(f'{name}{{service="{s}",le="{le}",instance="a"}}', values)

        fast = "0x20" if slow else "0+60x20"
        return Example(
            (b("1.0", fast), b("30.0", fast), b("60.0", "0+60x20"), b("+Inf", "0+60x20")),
            "20m",
            fires=slow,
            labels=_labels(service=s) if slow else (),
        )

    return Section(
        key="outbox",
        title="Outbox relay and publishing",
        records=(
            Record(
                lag,
                "histogram_quantile(0.99,\n  "
                + rate_sum("service, le", sel("svcinfra_amqp_outbox_lag_seconds_bucket", s), "5m")
                + "\n)",
            ),
        ),
        alerts=(
            Alert(
                name="OutboxLagHigh",
                expr=f'{lag}{{service="{s}"}} > {t.outbox_lag_p99_seconds}',
                for_="10m",
                severity="warning",
                summary="{{ $labels.service }}: events leave the outbox late",
                description=f"The 99th percentile from commit to confirmed publish has been over "
                f"{t.outbox_lag_p99_seconds:g} s for 10 minutes: the relay is behind, the broker "
                "slow or blocking (MQ-4, MQ-11).",
                rules=("MQ-4", "MQ-11"),
                examples=(lag_case(slow=True), lag_case(slow=False)),
            ),
            Alert(
                name="OutboxStalled",
                expr=f"max by (service) ({sel('svcinfra_amqp_outbox_pending', s)}) > 0\n"
                "unless on (service)\n"
                + rate_sum("service", sel("svcinfra_amqp_outbox_relayed_total", s), "10m")
                + " > 0",
                for_="10m",
                severity="critical",
                summary="{{ $labels.service }}: the outbox relay publishes nothing",
                description="Rows wait in the outbox and none has been published for 10 "
                "minutes: the relay is down, cannot reach the broker, or fails every row "
                "(svcinfra_amqp_outbox_failures_total says why).",
                rules=("MQ-4",),
                examples=(
                    Example(
                        (Series(pending, "5x20"),), "20m", fires=True, labels=_labels(service=s)
                    ),
                    Example(
                        (Series(pending, "5x20"), Series(relayed, "0x20")),
                        "20m",
                        fires=True,
                        labels=_labels(service=s),
                    ),
                    Example(
                        (Series(pending, "5x20"), Series(relayed, "0+10x20")), "20m", fires=False
                    ),
                    Example((Series(pending, "0x20"),), "20m", fires=False),
                ),
            ),
            Alert(
                name="OutboxBacklog",
                expr=f"max by (service) ({sel('svcinfra_amqp_outbox_pending', s)}) "
                f"> {t.outbox_pending_rows}",
                for_="10m",
                severity="warning",
                summary="{{ $labels.service }}: the outbox holds a backlog",
                description=f"More than {t.outbox_pending_rows} rows have waited in the outbox "
                "for 10 "
                "minutes: the relay publishes slower than the service writes.",
                rules=("MQ-4",),
                examples=(
                    Example(
                        (Series(pending, f"{t.outbox_pending_rows + 1}x20"),),
                        "20m",
                        fires=True,
                        labels=_labels(service=s),
                    ),
                    Example((Series(pending, f"{t.outbox_pending_rows}x20"),), "20m", fires=False),
                ),
            ),
            Alert(
                name="OutboxRowsParked",
                expr=increase_or_new(
                    "service, message, reason", sel("svcinfra_amqp_outbox_parked_total", s), "1h"
                )
                + " > 0",
                for_="0m",
                severity="warning",
                summary="{{ $labels.service }}: {{ $labels.message }} rows parked "
                "({{ $labels.reason }})",
                description="The relay parked outbox rows whose publish fails for a reason no "
                "retry changes; they stay in the outbox until someone fixes the cause and "
                "retries them (`svcinfra outbox list`, `svcinfra outbox retry`). The alert "
                "lasts an hour after the last one.",
                rules=("MQ-4",),
                examples=(
                    Example(
                        (Series(parked, "_x10 1x10"),),
                        "15m",
                        fires=True,
                        labels=_labels(service=s, message="m.v1", reason="invalid"),
                    ),
                    Example(
                        (Series(parked, "1x70 2x10"),),
                        "75m",
                        fires=True,
                        labels=_labels(service=s, message="m.v1", reason="invalid"),
                    ),
                    Example((Series(parked, "1x100"),), "100m", fires=False),
                ),
            ),
            Alert(
                name="OutboxRelayRestarting",
                expr=increase_or_new(
                    "service, reason", sel("svcinfra_amqp_outbox_relay_restarts_total", s), "15m"
                )
                + " > 2",
                for_="0m",
                severity="warning",
                summary="{{ $labels.service }}: the outbox relay keeps restarting "
                "({{ $labels.reason }})",
                description="The relay loop failed and restarted more than twice in 15 minutes.",
                rules=("MQ-4",),
                examples=(
                    Example(
                        (Series(restarts, "_x5 1 2 3 4x5"),),
                        "10m",
                        fires=True,
                        labels=_labels(service=s, reason="database"),
                    ),
                    Example((Series(restarts, "_x5 1 2x10"),), "10m", fires=False),
                ),
            ),
            Alert(
                name="PublisherBlocked",
                expr="max by (service, publisher) "
                f"({sel('svcinfra_amqp_publisher_blocked_now', s)}) == 1",
                for_="5m",
                severity="critical",
                summary="{{ $labels.service }}: RabbitMQ blocks publisher {{ $labels.publisher }}",
                description="The broker has blocked the connection for 5 minutes (a memory or "
                "disk alarm): nothing this service publishes goes out (MQ-11).",
                rules=("MQ-11",),
                examples=(
                    Example(
                        (Series(blocked, "0 1x10"),),
                        "10m",
                        fires=True,
                        labels=_labels(service=s, publisher="relay"),
                    ),
                    Example((Series(blocked, "0 1 1 0x8"),), "10m", fires=False),
                ),
            ),
        ),
        panels=(
            Panel(
                title="Rows waiting in the outbox",
                queries=(Query(f"max({sel('svcinfra_amqp_outbox_pending', s)})", "pending"),),
                threshold=t.outbox_pending_rows,
            ),
            Panel(
                title="Relayed, failed and parked rows",
                queries=(
                    Query(
                        rate_sum("message", sel("svcinfra_amqp_outbox_relayed_total", s), "5m"),
                        "relayed {{message}}",
                    ),
                    Query(
                        rate_sum("reason", sel("svcinfra_amqp_outbox_failures_total", s), "5m"),
                        "failed {{reason}}",
                    ),
                    Query(
                        rate_sum("reason", sel("svcinfra_amqp_outbox_parked_total", s), "5m"),
                        "parked {{reason}}",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                title="Outbox lag p99 (commit to confirm)",
                queries=(Query(f'{lag}{{service="{s}"}}', "p99"),),
                unit="s",
                threshold=t.outbox_lag_p99_seconds,
            ),
            Panel(
                title="Publish failures and returns",
                queries=(
                    Query(
                        rate_sum("reason", sel("svcinfra_amqp_publish_failures_total", s), "5m"),
                        "{{reason}}",
                    ),
                    Query(
                        rate_sum("message", sel("svcinfra_amqp_messages_returned_total", s), "5m"),
                        "returned {{message}}",
                    ),
                ),
                unit="ops",
            ),
            Panel(
                title="Publisher blocked by the broker",
                queries=(
                    Query(
                        f"max by (publisher) ({sel('svcinfra_amqp_publisher_blocked_now', s)})",
                        "{{publisher}}",
                    ),
                ),
                threshold=1,
            ),
        ),
    )


def _consumer(spec: ServiceMonitoring) -> Section:
    s, t = spec.service, spec.thresholds
    consumed = sel("svcinfra_amqp_messages_consumed_total", s)
    retried = sel("svcinfra_amqp_messages_retried_total", s)
    dead = sel("svcinfra_amqp_messages_dead_lettered_total", s)
    depth = sel("svcinfra_amqp_queue_messages", s, r'queue=~".+\\.dlq"')
    q = "orders.created"
    dlq_series = f'svcinfra_amqp_queue_messages{{service="{s}",queue="{q}.dlq",instance="a"}}'
    work_series = f'svcinfra_amqp_queue_messages{{service="{s}",queue="{q}",instance="a"}}'
    c = _series("svcinfra_amqp_messages_consumed_total", s, message="m.v1", queue=q)
    r = _series(
        "svcinfra_amqp_messages_retried_total", s, message="m.v1", queue=q, reason="timeout"
    )
    d = _series(
        "svcinfra_amqp_messages_dead_lettered_total", s, message="m.v1", queue=q, reason="permanent"
    )
    by_queue = "service, queue"
    retry_ratio = f'svcinfra:amqp_retry_ratio:rate15m{{service="{s}"}}'
    error_ratio = f'svcinfra:amqp_dead_letter_ratio:rate15m{{service="{s}"}}'
    busy = f'svcinfra:amqp_consumed:rate15m{{service="{s}"}} > {t.min_messages_per_second}'
    return Section(
        key="consumer",
        title="Consumer and dead-letter queues",
        records=(
            Record("svcinfra:amqp_consumed:rate15m", rate_sum(by_queue, consumed, "15m")),
            Record("svcinfra:amqp_retry_ratio:rate15m", ratio(by_queue, retried, consumed, "15m")),
            Record(
                "svcinfra:amqp_dead_letter_ratio:rate15m", ratio(by_queue, dead, consumed, "15m")
            ),
        ),
        alerts=(
            Alert(
                name="DeadLetterQueueNotEmpty",
                expr=f"max by (service, queue) ({depth}) > 0",
                for_="0m",
                severity="warning",
                summary="{{ $labels.queue }} holds dead letters",
                description="Messages the consumer could not process wait in the dead-letter "
                "queue: read them with `svcinfra dlq show`, fix the cause, then `svcinfra dlq "
                "replay` (or `purge`) (MQ-9, MQ-10).",
                rules=("MQ-9", "MQ-10"),
                examples=(
                    Example(
                        (Series(dlq_series, "0 0 1x5"), Series(work_series, "0x7")),
                        "4m",
                        fires=True,
                        labels=_labels(service=s, queue=f"{q}.dlq"),
                    ),
                    Example(
                        (Series(dlq_series, "0 0 1 1 0x5"), Series(work_series, "9x7")),
                        "5m",
                        fires=False,
                    ),
                ),
            ),
            Alert(
                name="ConsumerErrorRatioHigh",
                expr=f"{error_ratio} > {t.consumer_error_ratio}\nand {busy}",
                for_="15m",
                severity="warning",
                summary="{{ $labels.queue }}: messages fail for good",
                description=f"More than {t.consumer_error_ratio:.0%} of the deliveries of "
                "{{ $labels.queue }} have gone to its DLQ over 15 minutes (a permanent failure, "
                "or retries exhausted): a contract mismatch or a failing dependency (MQ-9).",
                rules=("MQ-9", "MQ-11"),
                examples=(
                    Example(
                        (Series(c, "0+100x40"), Series(d, "0+5x40")),
                        "40m",
                        fires=True,
                        labels=_labels(service=s, queue=q),
                    ),
                    Example((Series(c, "0+100x40"), Series(d, "0+0.5x40")), "40m", fires=False),
                ),
            ),
            Alert(
                name="ConsumerRetryRatioHigh",
                expr=f"{retry_ratio} > {t.consumer_retry_ratio}\nand {busy}",
                for_="15m",
                severity="warning",
                summary="{{ $labels.queue }}: many deliveries are retried",
                description=f"More than {t.consumer_retry_ratio:.0%} of the deliveries of "
                "{{ $labels.queue }} have failed temporarily and gone to a retry tier over 15 "
                "minutes: a dependency is slow or failing (MQ-9).",
                rules=("MQ-9", "MQ-11"),
                examples=(
                    Example(
                        (Series(c, "0+100x40"), Series(r, "0+20x40")),
                        "40m",
                        fires=True,
                        labels=_labels(service=s, queue=q),
                    ),
                    Example((Series(c, "0+100x40"), Series(r, "0+5x40")), "40m", fires=False),
                    Example((Series(c, "0+1x40"), Series(r, "0+1x40")), "40m", fires=False),
                ),
            ),
        ),
        panels=(
            Panel(
                title="Dead letters waiting",
                queries=(Query(f"max by (queue) ({depth})", "{{queue}}"),),
                threshold=1,
            ),
            Panel(
                title="Queue depth",
                queries=(
                    Query(
                        f"max by (queue) ({sel('svcinfra_amqp_queue_messages', s)})", "{{queue}}"
                    ),
                ),
            ),
            Panel(
                title="Deliveries by outcome",
                queries=(
                    Query(rate_sum("queue", consumed, "5m"), "consumed {{queue}}"),
                    Query(
                        rate_sum("outcome", sel("svcinfra_amqp_messages_acked_total", s), "5m"),
                        "acked {{outcome}}",
                    ),
                    Query(rate_sum("reason", retried, "5m"), "retried {{reason}}"),
                    Query(rate_sum("reason", dead, "5m"), "dead-lettered {{reason}}"),
                ),
                unit="ops",
            ),
            Panel(
                title="Retry and dead-letter ratios (15 min)",
                queries=(
                    Query(retry_ratio, "retried {{queue}}"),
                    Query(error_ratio, "dead-lettered {{queue}}"),
                ),
                unit="percentunit",
            ),
            Panel(
                title="Handler duration p99",
                queries=(
                    Query(
                        "histogram_quantile(0.99, "
                        + rate_sum(
                            "message, le",
                            sel("svcinfra_amqp_handler_duration_seconds_bucket", s),
                            "5m",
                        )
                        + ")",
                        "{{message}}",
                    ),
                ),
                unit="s",
            ),
            Panel(
                title="In flight and consumers",
                queries=(
                    Query(
                        f"sum by (queue) ({sel('svcinfra_amqp_messages_in_flight', s)})",
                        "in flight {{queue}}",
                    ),
                    Query(
                        f"max by (queue) ({sel('svcinfra_amqp_queue_consumers', s)})",
                        "consumers {{queue}}",
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
            _breaker(
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
