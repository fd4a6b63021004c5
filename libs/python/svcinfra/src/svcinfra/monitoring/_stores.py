"""The PostgreSQL and cache sections (PG-5, PG-11, RD-1, RD-7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._examples import breaker_alert, labels_of, series
from ._model import Alert, Example, Panel, Query, Record, Section, Series
from ._promql import rate_sum, ratio, sel

if TYPE_CHECKING:
    from ._model import ServiceMonitoring


def postgres_section(spec: ServiceMonitoring) -> Section:
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
                        labels=labels_of(service=s, db=s),
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
                        labels=labels_of(service=s),
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


def cache_section(spec: ServiceMonitoring) -> Section:
    s, t = spec.service, spec.thresholds
    lookups = sel("svcinfra_cache_lookups_total", s)
    hits = sel("svcinfra_cache_lookups_total", s, 'result=~"hit|negative_hit"')
    hit = series("svcinfra_cache_lookups_total", s, namespace="users", result="hit")
    miss = series("svcinfra_cache_lookups_total", s, namespace="users", result="miss")
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
                        labels=labels_of(service=s, namespace="users"),
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
            breaker_alert(
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
