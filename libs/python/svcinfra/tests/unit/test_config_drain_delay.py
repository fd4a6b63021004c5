"""HTTP_DRAIN_DELAY: how long the API serves after SIGTERM before it stops accepting (issue 17)."""

from __future__ import annotations

import pytest

from svcinfra.config import Config, ConfigError, load_config

BASE = {"SERVICE_NAME": "api", "ENV": "prod"}


def test_the_default_is_5_seconds_and_0_turns_the_drain_off() -> None:
    """5 s by default (the manifests' grace period counts on it); 0 is allowed (no balancer)."""
    assert load_config(Config, BASE).http.drain_delay == 5.0
    assert load_config(Config, BASE | {"HTTP_DRAIN_DELAY": "0"}).http.drain_delay == 0.0


@pytest.mark.parametrize("value", ["-1", "301", "soon"])
def test_a_negative_huge_or_malformed_delay_is_a_problem_naming_the_variable(value: str) -> None:
    """A bad value fails the start (exit 78) naming HTTP_DRAIN_DELAY, never echoing the value."""
    with pytest.raises(ConfigError) as caught:
        load_config(Config, BASE | {"HTTP_DRAIN_DELAY": value})

    (problem,) = caught.value.problems
    assert problem.variable == "HTTP_DRAIN_DELAY"
    assert value not in problem.message
