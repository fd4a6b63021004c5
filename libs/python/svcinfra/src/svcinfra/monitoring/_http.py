"""The HTTP API section: 5xx and latency SLOs, multi-window multi-burn-rate alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._examples import counter, labels_of
from ._model import Alert, Example, Panel, Query, Record, Section, Series
from ._promql import rate_sum, ratio, sel

if TYPE_CHECKING:
    from ._model import ServiceMonitoring


# Multi-window, multi-burn-rate alerts (Google SRE workbook, ch. 5): (long, short, burn rate).
FAST_BURN = (("1h", "5m", 14.4), ("6h", "30m", 6.0))
# The workbook's (1d, 2h, 3x) pair is left out: over 1d, 3x the budget is already 1x over 3d,
# and 3x over 2h is 1x over 6h, so it never fires without (3d, 6h, 1x).
SLOW_BURN = (("3d", "6h", 1.0),)
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


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


def http_section(spec: ServiceMonitoring) -> Section:
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
    who = labels_of(service=s)
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
            series = (Series(ok, f"0+1000x{steps}"), Series(failed, counter(increments)))
        else:
            good = tuple((n, 1000 - i) for n, i in increments)
            series = (Series(ok, f"0+1000x{steps}"), Series(fast_le, counter(good)))
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
