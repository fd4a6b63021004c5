"""Waiting in tests for something asynchronous to happen, and reading metrics back."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from prometheus_client import REGISTRY

if TYPE_CHECKING:
    from collections.abc import Callable

    from prometheus_client import CollectorRegistry


async def until(
    condition: Callable[[], object],
    *,
    timeout: float = 5.0,  # noqa: ASYNC109  (a polling limit, not a wrapped await)
    interval: float = 0.001,
) -> None:
    """Poll `condition` every `interval` seconds until it is true.

    Raises:
        AssertionError: the condition did not hold within `timeout` seconds.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def metric_value(
    name: str,
    registry: CollectorRegistry = REGISTRY,
    **labels: str,
) -> float:
    """Return the current value of one Prometheus sample, 0.0 when it was never recorded."""
    return registry.get_sample_value(name, labels) or 0.0
