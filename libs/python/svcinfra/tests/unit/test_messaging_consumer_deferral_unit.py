"""`classify` and a call refused before sending: deferred, not counted (MQ-9, issue 17).

The protocol: an exception (or an explicit cause of it) with `not_attempted` True and a
`retry_after`; svcinfra.httpclient's `CircuitOpenError` implements it when the breaker refused
the call's first attempt.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from svcinfra.httpclient import CircuitOpenError, DeadlineExceededError
from svcinfra.messaging import headers as hdr
from svcinfra.messaging.consumer import Reject, Retry, classify
from svcinfra.messaging.consumer._delivery import ErrorClass
from svcinfra.messaging.consumer._failure import (
    defer_delay_ms,
    deferrals,
    deferred_since,
    deferred_too_long,
    failure_headers,
)


def circuit_open(retry_after: float | None = 12.0, attempts: int = 1) -> CircuitOpenError:
    return CircuitOpenError(
        "circuit open: failing fast",
        adapter="mail-api",
        method="POST",
        route="/v1/messages",
        reason="circuit_open",
        retry_after=retry_after,
        attempts=attempts,
    )


class MailUnavailableError(Exception):
    """A service's own domain error, raised `from` the client's (as notifications does)."""

    temporary = True


class RefusedError(Exception):
    """Another library's "refused before sending" error, opting in by its attributes."""

    not_attempted = True

    def __init__(self, retry_after: object) -> None:
        super().__init__("refused")
        self.retry_after = retry_after


def test_an_open_circuit_is_no_attempt_and_carries_its_retry_after() -> None:
    failure = classify(circuit_open(12.0))

    assert failure.error_class is ErrorClass.TRANSIENT
    assert failure.not_attempted
    assert (failure.refused_by, failure.retry_after) == ("CircuitOpenError", 12.0)
    assert failure.error_type == "CircuitOpenError"
    assert "mail-api POST /v1/messages: circuit open" in failure.message


def test_the_refusal_is_found_through_explicit_causes() -> None:
    """notifications: `Retry` from `MailUnavailableError` from `CircuitOpenError`."""
    try:
        try:
            try:
                raise circuit_open(7.5)
            except CircuitOpenError as exc:
                raise MailUnavailableError(f"mail API unavailable: {exc}") from exc
        except MailUnavailableError as exc:
            raise Retry(str(exc)) from exc
    except Retry as signal:
        failure = classify(signal)

    assert failure.error_type == "Retry"
    assert (failure.refused_by, failure.retry_after) == ("CircuitOpenError", 7.5)


def test_an_implicit_context_is_not_a_cause() -> None:
    """An error raised while handling a refusal (no `from`) is an attempt of its own."""
    try:
        try:
            raise circuit_open()
        except CircuitOpenError:
            raise ConnectionError("the fallback failed too")  # noqa: B904  (the point)
    except ConnectionError as exc:
        failure = classify(exc)

    assert not failure.not_attempted


def test_a_permanent_failure_stays_permanent_whatever_its_cause() -> None:
    try:
        try:
            raise circuit_open()
        except CircuitOpenError as exc:
            raise Reject("the user is blocked") from exc
    except Reject as signal:
        failure = classify(signal)

    assert failure.error_class is ErrorClass.PERMANENT
    assert not failure.not_attempted


def test_a_circuit_that_opened_after_a_sent_attempt_counts() -> None:
    """The call's first attempt was sent (a 5xx that opened the circuit): it was attempted."""
    assert not circuit_open(attempts=2).not_attempted
    assert not classify(circuit_open(attempts=2)).not_attempted


def test_other_temporary_errors_count_as_attempts() -> None:
    deadline = DeadlineExceededError(
        "deadline", adapter="mail-api", method="POST", route="/v1/messages", reason="deadline"
    )
    for exc in (deadline, ConnectionError("reset"), Retry("503"), TimeoutError()):
        failure = classify(exc)
        assert failure.error_class is ErrorClass.TRANSIENT
        assert not failure.not_attempted, exc


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [(3, 3.0), (None, 0.0), (-1.0, 0.0), (math.inf, 0.0), (math.nan, 0.0), ("5", 0.0),
     (True, 0.0)],
)  # fmt: skip
def test_another_librarys_refusal_opts_in_with_a_sane_retry_after(
    retry_after: object, expected: float
) -> None:
    failure = classify(RefusedError(retry_after))

    assert (failure.refused_by, failure.retry_after) == ("RefusedError", expected)
    assert failure.message == "RefusedError (message withheld: see the log)"


def test_not_attempted_must_be_true_itself() -> None:
    exc = RefusedError(1.0)
    exc.not_attempted = "yes"  # type: ignore[assignment]  (a truthy non-bool does not opt in)

    assert not classify(exc).not_attempted


def test_a_cycle_of_causes_ends() -> None:
    first, second = ValueError("a"), ValueError("b")
    first.__cause__, second.__cause__ = second, first

    assert not classify(first).not_attempted


@pytest.mark.parametrize(
    ("retry_after", "tier"),
    [(0.0, 1000), (0.5, 1000), (1.0, 1000), (1.001, 5000), (13.0, 30_000), (30.0, 30_000),
     (31.0, 30_000), (3600.0, 30_000)],
)  # fmt: skip
def test_the_tier_is_the_shortest_that_waits_long_enough(retry_after: float, tier: int) -> None:
    """Tiers 1 s, 5 s, 30 s: the shortest wait >= retry_after, the longest when none is."""
    assert defer_delay_ms((1000, 5000, 30_000), retry_after) == tier


def test_no_tier_no_deferral() -> None:
    with pytest.raises(ValueError, match="no retry tier"):
        defer_delay_ms((), 1.0)


def test_the_deferral_headers_are_read_back_and_bad_ones_ignored() -> None:
    since = datetime(2026, 12, 6, 20, 0, tzinfo=UTC)
    headers = failure_headers(
        {"tenant": "acme"},
        classify(circuit_open()),
        retries=2,
        attempts=None,
        exchange="users.events",
        routing_key="user.registered.v1",
        consumer="notifications",
        extra={hdr.DEFERRED_SINCE: since.isoformat(timespec="milliseconds"), hdr.DEFERRALS: 3},
    )

    assert headers[hdr.RETRY_COUNT] == 2
    assert hdr.ATTEMPTS not in headers
    assert (deferred_since(headers), deferrals(headers)) == (since, 3)
    assert deferred_since({hdr.DEFERRED_SINCE: since.isoformat().encode()}) == since
    for bad in ("yesterday", "2026-12-06T20:00:00", 17, None):
        assert deferred_since({hdr.DEFERRED_SINCE: bad}) is None
    for bad_count in (-1, "3", True, None):
        assert deferrals({hdr.DEFERRALS: bad_count}) == 0


def test_deferred_too_long_names_the_refusal_and_the_limit() -> None:
    failure = deferred_too_long(classify(circuit_open()), waited=901.4, limit=900.0, times=31)

    assert (failure.error_class, failure.error_type) == (ErrorClass.TRANSIENT, "deferred-too-long")
    assert failure.message.startswith("not attempted for 901s (31 deferrals, limit 900s); last: ")
    assert "mail-api POST /v1/messages: circuit open" in failure.message
    assert not failure.not_attempted
