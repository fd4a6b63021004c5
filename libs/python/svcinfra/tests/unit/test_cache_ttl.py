"""TTL policy: mandatory, bounded, overridable per call, and jittered (RD-2)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from svcinfra.cache import TTLError, TTLPolicy

DAY = 86_400.0


@pytest.mark.parametrize(
    "ttl",
    [None, 0, 0.0, -1, math.nan, math.inf, 2 * DAY, True, "60"],
    ids=["none", "zero", "zero-float", "negative", "nan", "inf", "above-max", "bool", "str"],
)
def test_rejects_missing_or_out_of_range_ttl(ttl: object) -> None:
    """A TTL that is missing, not a positive finite number, or above the bound is refused."""
    with pytest.raises(TTLError, match="RD-2"):
        TTLPolicy(ttl=ttl, max_ttl=DAY)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "jitter", [-0.1, 0.51, math.nan, True], ids=["negative", "above-half", "nan", "bool"]
)
def test_rejects_bad_jitter(jitter: float) -> None:
    """Jitter is a fraction between 0 and 0.5."""
    with pytest.raises(TTLError, match="jitter"):
        TTLPolicy(ttl=60, max_ttl=DAY, jitter=jitter)


def test_per_call_override_is_validated_too() -> None:
    """An override of zero or above the bound is refused like the default."""
    policy = TTLPolicy(ttl=60, max_ttl=DAY)

    with pytest.raises(TTLError):
        policy.pick_ms(0)
    with pytest.raises(TTLError):
        policy.pick_ms(DAY + 1)
    assert 9_000 <= policy.pick_ms(10) <= 11_000


@given(
    ttl=st.floats(min_value=0.01, max_value=DAY),
    jitter=st.floats(min_value=0.0, max_value=0.5),
)
def test_jittered_ttl_stays_in_range(ttl: float, jitter: float) -> None:
    """Each jittered TTL is within ttl * (1 +- jitter), at least 1 ms, and never above the bound."""
    policy = TTLPolicy(ttl=ttl, max_ttl=DAY, jitter=jitter)

    picked = policy.pick_ms()

    assert 1 <= picked <= DAY * 1000
    assert (
        math.floor(ttl * (1 - jitter) * 1000) - 1
        <= picked
        <= math.ceil(ttl * (1 + jitter) * 1000) + 1
    )


def test_default_jitter_spreads_expiries() -> None:
    """With the default +-10%, a thousand writes of one TTL get spread over most of the range."""
    policy = TTLPolicy(ttl=100, max_ttl=DAY)

    picks = [policy.pick_ms() for _ in range(1000)]

    assert min(picks) >= 90_000
    assert max(picks) <= 110_000
    # 1000 uniform draws leave both outer 2% bands empty with probability ~1e-9.
    assert min(picks) < 92_000
    assert max(picks) > 108_000
    assert len(set(picks)) > 900


def test_zero_jitter_is_exact() -> None:
    """Jitter 0 writes exactly the TTL."""
    assert TTLPolicy(ttl=1.5, max_ttl=DAY, jitter=0).pick_ms() == 1500


def test_jitter_never_exceeds_the_bound() -> None:
    """A TTL at the bound is clamped rather than jittered above it."""
    policy = TTLPolicy(ttl=DAY, max_ttl=DAY, jitter=0.5)

    assert all(policy.pick_ms() <= DAY * 1000 for _ in range(200))
