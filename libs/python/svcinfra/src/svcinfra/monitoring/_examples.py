"""Pieces the sections share: promtool test series, expected labels, the breaker alert."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._model import Alert, Example, Series
from ._promql import sel

if TYPE_CHECKING:
    from ._model import ServiceMonitoring


def counter(segments: tuple[tuple[int, float], ...]) -> str:
    """Promtool's notation of a counter growing by `increment` a step for `steps` steps, in turn."""
    parts = []
    value = 0.0
    for i, (steps, increment) in enumerate(segments):
        first = value if i == 0 else value + increment
        count = steps if i == 0 else steps - 1
        parts.append(f"{first:g}+{increment:g}x{count}")
        value = first + increment * count
    return " ".join(parts)


def series(metric: str, service: str, **labels: str) -> str:
    """An input series of a unit test: `metric{service=...,labels...,instance="a"}`."""
    every = {"service": service, **labels, "instance": "a"}
    return metric + "{" + ",".join(f'{k}="{v}"' for k, v in every.items()) + "}"


def labels_of(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def breaker_alert(
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
                labels=labels_of(service=s, **{label: "main"}),
            ),
            Example(
                (Series(state, "0 2 1 2 1 2 1 2 1 2 1"),),
                "10m",
                fires=True,
                labels=labels_of(service=s, **{label: "main"}),
            ),
            Example((Series(state, "0 2 0x9"),), "4m", fires=False),
        ),
    )
