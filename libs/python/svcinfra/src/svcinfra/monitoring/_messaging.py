"""The outbox relay and consumer sections (MQ-4, MQ-9, MQ-10, MQ-11)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._examples import labels_of, series
from ._model import Alert, Example, Panel, Query, Record, Section, Series
from ._promql import increase_or_new, rate_sum, ratio, sel

if TYPE_CHECKING:
    from ._model import ServiceMonitoring


def outbox_section(spec: ServiceMonitoring) -> Section:
    s, t = spec.service, spec.thresholds
    lag = "svcinfra:outbox_lag_seconds:p99_5m"
    pending = f'svcinfra_amqp_outbox_pending{{service="{s}",instance="a"}}'
    relayed = f'svcinfra_amqp_outbox_relayed_total{{service="{s}",message="m.v1",instance="a"}}'
    dispatched = (
        f'svcinfra_amqp_outbox_dispatched_total{{service="{s}",message="m.v1",instance="b"}}'
    )
    parked = series("svcinfra_amqp_outbox_parked_total", s, message="m.v1", reason="invalid")
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
            labels=labels_of(service=s) if slow else (),
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
                # The writers' own publishes (`Dispatcher`) count: at a low rate they send every
                # row, and the relay none.
                expr=f"max by (service) ({sel('svcinfra_amqp_outbox_pending', s)}) > 0\n"
                "unless on (service) (\n  "
                + rate_sum("service", sel("svcinfra_amqp_outbox_relayed_total", s), "10m")
                + " > 0\n  or "
                + rate_sum("service", sel("svcinfra_amqp_outbox_dispatched_total", s), "10m")
                + " > 0\n)",
                for_="10m",
                severity="critical",
                summary="{{ $labels.service }}: the outbox relay publishes nothing",
                description="Rows wait in the outbox and none has been published for 10 "
                "minutes, by the relay or by their writers: the relay is down, cannot reach "
                "the broker, or fails every row "
                "(svcinfra_amqp_outbox_failures_total says why).",
                rules=("MQ-4",),
                examples=(
                    Example(
                        (Series(pending, "5x20"),), "20m", fires=True, labels=labels_of(service=s)
                    ),
                    Example(
                        (Series(pending, "5x20"), Series(relayed, "0x20")),
                        "20m",
                        fires=True,
                        labels=labels_of(service=s),
                    ),
                    Example(
                        (Series(pending, "5x20"), Series(relayed, "0+10x20")), "20m", fires=False
                    ),
                    Example(
                        (
                            Series(pending, "1x20"),
                            Series(relayed, "0x20"),
                            Series(dispatched, "0+10x20"),
                        ),
                        "20m",
                        fires=False,
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
                        labels=labels_of(service=s),
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
                        labels=labels_of(service=s, message="m.v1", reason="invalid"),
                    ),
                    Example(
                        (Series(parked, "1x70 2x10"),),
                        "75m",
                        fires=True,
                        labels=labels_of(service=s, message="m.v1", reason="invalid"),
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
                        labels=labels_of(service=s, reason="database"),
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
                        labels=labels_of(service=s, publisher="relay"),
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


def consumer_section(spec: ServiceMonitoring) -> Section:
    s, t = spec.service, spec.thresholds
    consumed = sel("svcinfra_amqp_messages_consumed_total", s)
    retried = sel("svcinfra_amqp_messages_retried_total", s)
    dead = sel("svcinfra_amqp_messages_dead_lettered_total", s)
    depth = sel("svcinfra_amqp_queue_messages", s, r'queue=~".+\\.dlq"')
    q = "orders.created"
    dlq_series = f'svcinfra_amqp_queue_messages{{service="{s}",queue="{q}.dlq",instance="a"}}'
    work_series = f'svcinfra_amqp_queue_messages{{service="{s}",queue="{q}",instance="a"}}'
    c = series("svcinfra_amqp_messages_consumed_total", s, message="m.v1", queue=q)
    r = series("svcinfra_amqp_messages_retried_total", s, message="m.v1", queue=q, reason="timeout")
    d = series(
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
                        labels=labels_of(service=s, queue=f"{q}.dlq"),
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
                        labels=labels_of(service=s, queue=q),
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
                        labels=labels_of(service=s, queue=q),
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
