"""Status mapping, what is retried, and full-jitter backoff (EX-3, EX-4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from svcinfra.httpclient import (
    CircuitOpenError,
    DeadlineExceededError,
    ExternalApiError,
    InvalidRequestError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    TemporaryError,
    UnauthorizedError,
)
from svcinfra.httpclient._policy import Backoff, error_class_for_status, is_retryable


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (400, InvalidRequestError),
        (401, UnauthorizedError),
        (403, UnauthorizedError),
        (404, NotFoundError),
        (405, InvalidRequestError),
        (408, TemporaryError),
        (409, InvalidRequestError),
        (410, NotFoundError),
        (422, InvalidRequestError),
        (429, RateLimitedError),
        (500, TemporaryError),
        (501, PermanentError),
        (502, TemporaryError),
        (503, TemporaryError),
        (504, TemporaryError),
        (505, PermanentError),
        (302, PermanentError),
    ],
    ids=str,
)
def test_error_class_for_status(status: int, expected: type[ExternalApiError]) -> None:
    """Each status maps to a temporary or permanent error class of the domain-neutral tree."""
    assert expected is error_class_for_status(status)


def _error(cls: type[ExternalApiError], reason: str, status: int | None = None) -> ExternalApiError:
    return cls("x", adapter="a", method="POST", route="/r", reason=reason, status=status)


@pytest.mark.parametrize(
    ("error", "idempotent", "expected"),
    [
        (_error(TemporaryError, "connect_error"), False, True),
        (_error(TemporaryError, "connect_timeout"), False, True),
        (_error(TemporaryError, "pool_timeout"), False, True),
        (_error(TemporaryError, "read_timeout"), True, True),
        (_error(TemporaryError, "read_timeout"), False, False),
        (_error(TemporaryError, "network_error"), True, True),
        (_error(TemporaryError, "protocol_error"), False, False),
        (_error(TemporaryError, "status", 503), True, True),
        (_error(TemporaryError, "status", 503), False, False),
        (_error(TemporaryError, "status", 502), True, True),
        (_error(TemporaryError, "status", 504), True, True),
        (_error(TemporaryError, "status", 408), True, True),
        (_error(RateLimitedError, "status", 429), True, True),
        (_error(TemporaryError, "status", 500), True, True),
        (_error(TemporaryError, "status", 500), False, False),
        (_error(TemporaryError, "status", 507), True, False),
        (_error(RateLimitedError, "rate_limited"), True, False),
        (_error(CircuitOpenError, "circuit_open"), True, False),
        (_error(DeadlineExceededError, "deadline"), True, False),
        (_error(InvalidRequestError, "status", 400), True, False),
        (_error(NotFoundError, "status", 404), True, False),
    ],
    ids=[
        "connect-error-never-sent", "connect-timeout-never-sent", "pool-timeout-never-sent",
        "read-timeout-idempotent", "read-timeout-post", "reset-idempotent", "cut-body-post",
        "503-idempotent", "503-post", "502", "504", "408", "429", "500-idempotent", "500-post",
        "507-not-in-list", "own-limiter", "circuit-open", "deadline", "400", "404",
    ],
)  # fmt: skip
def test_is_retryable(
    error: ExternalApiError,
    idempotent: bool,  # noqa: FBT001  (a parametrized value)
    expected: bool,  # noqa: FBT001  (a parametrized value)
) -> None:
    """Only temporary failures are retried, and a non-idempotent request only if it never left."""
    assert expected is is_retryable(error, idempotent=idempotent)


def test_backoff_ceiling_doubles_up_to_the_cap() -> None:
    """The n-th wait's bound is initial * 2**(n-1), capped."""
    backoff = Backoff(0.1, 1.0)
    assert [pytest.approx(backoff.ceiling(n)) for n in range(1, 7)] == [
        0.1,
        0.2,
        0.4,
        0.8,
        1.0,
        1.0,
    ]
    assert backoff.ceiling(10_000) == 1.0


@given(
    retry=st.integers(min_value=1, max_value=200),
    draw=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_is_full_jitter(retry: int, draw: float) -> None:
    """A wait is the uniform draw times the bound: anywhere in [0, bound), never beyond."""
    backoff = Backoff(0.05, 2.0, random=lambda: draw)
    delay = backoff.delay(retry)
    assert 0 <= delay <= backoff.ceiling(retry)
    assert delay == pytest.approx(draw * backoff.ceiling(retry))


def test_backoff_spreads_waits() -> None:
    """With the real random source, repeated waits for the same retry differ (jitter)."""
    backoff = Backoff(1.0, 1.0)
    assert len({backoff.delay(1) for _ in range(20)}) > 1


def test_backoff_rejects_retry_zero() -> None:
    """Retry numbers are 1-based; 0 is a programming error."""
    with pytest.raises(ValueError, match="start at 1"):
        Backoff(0.1, 1.0).ceiling(0)
