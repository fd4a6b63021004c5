"""The inbox retention is checked against the retry tiers when a consumer is created (MQ-3)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from svcinfra.config import ConfigError
from svcinfra.messaging.consumer import Consumer, redelivery_horizon
from svcinfra.messaging.contract import contract_from_document

SERVICE = Path(__file__).parents[1] / "assets" / "messaging" / "service.yaml"
CONTRACT = contract_from_document(yaml.safe_load(SERVICE.read_text()), source="service.yaml")
URL = "amqp://guest:guest@127.0.0.1:5672/"  # never connected to here


def consumer(**options: float) -> Consumer:
    return Consumer(CONTRACT, None, url=URL, name="unit", **options)  # type: ignore[arg-type]


def test_the_horizon_is_the_tiers_delays_plus_a_handler_timeout_per_attempt() -> None:
    """3 attempts, tiers 100 ms and 200 ms: 0.3 s of waiting and 3 handler timeouts."""
    (consumption,) = CONTRACT.consumptions

    assert redelivery_horizon(consumption, 30.0) == pytest.approx(90.3)
    assert redelivery_horizon(consumption, 1.0) == pytest.approx(3.3)


def test_a_retention_not_longer_than_the_horizon_is_refused_with_a_config_error() -> None:
    """The error names the setting, the queue and the horizon: what to change, and to what."""
    (consumption,) = CONTRACT.consumptions

    with pytest.raises(ConfigError) as refused:
        consumer(handler_timeout=30.0, inbox_retention=90.3, max_deferral=0.0)

    (problem,) = refused.value.problems
    assert problem.variable == "inbox_retention"
    assert consumption.queue.name in problem.message
    assert "90.3 s" in problem.message
    consumer(handler_timeout=30.0, inbox_retention=90.4, max_deferral=0.0)  # longer: accepted


def test_deferrals_lengthen_the_horizon_by_max_deferral_and_the_longest_tier() -> None:
    """A message refused before sending may come back `max_deferral` s + a tier (200 ms) later."""
    (consumption,) = CONTRACT.consumptions

    assert redelivery_horizon(consumption, 30.0, 900.0) == pytest.approx(90.3 + 900.2)
    with pytest.raises(ConfigError, match="900 s of deferral"):
        consumer(handler_timeout=30.0, inbox_retention=990.5)  # the default max_deferral: 900 s
    consumer(handler_timeout=30.0, inbox_retention=990.6)


@pytest.mark.parametrize(
    "options",
    [{"inbox_purge_interval": 0.0}, {"inbox_purge_batch": 0}],
    ids=["interval", "batch"],
)
def test_the_purge_job_needs_a_positive_interval_and_batch(options: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="inbox_purge"):
        consumer(**options)
