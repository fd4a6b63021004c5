"""Header parsers (Retry-After, rate-limit reset, request id) and redaction (EX-3, EX-5)."""

from __future__ import annotations

import math
from email.utils import formatdate

import pytest
from hypothesis import given
from hypothesis import strategies as st

from svcinfra.config import MASK
from svcinfra.httpclient._headers import (
    parse_retry_after,
    rate_limit_reset_of,
    redact_fields,
    redact_headers,
    request_id_of,
    retry_after_of,
)

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        (formatdate(NOW + 30, usegmt=True), 30.0),
        (formatdate(NOW - 30, usegmt=True), 0.0),
        ("soon", None),
        ("-5", None),
        ("", None),
        ("Wed, 21 Oct 2015 07:28:00", None),
    ],
    ids=["seconds", "zero", "spaces", "fraction", "future-date", "past-date", "word",
         "negative", "empty", "date-without-zone"],
)  # fmt: skip
def test_parse_retry_after(value: str, expected: float | None) -> None:
    """Retry-After is read as delay-seconds or an HTTP-date; anything else counts as absent."""
    assert expected == parse_retry_after(value, now=NOW)


@given(st.integers(min_value=0, max_value=10**9))
def test_parse_retry_after_reads_any_delay_seconds(seconds: int) -> None:
    """Every non-negative integer of seconds reads back as itself."""
    assert float(seconds) == parse_retry_after(str(seconds), now=NOW)


@given(st.text(max_size=60))
def test_parse_retry_after_never_raises(value: str) -> None:
    """Garbage from an upstream never raises; a result is a finite, non-negative delay."""
    result = parse_retry_after(value, now=NOW)
    assert result is None or (math.isfinite(result) and result >= 0)


def test_retry_after_ms_wins_over_retry_after() -> None:
    """`retry-after-ms` is more precise than `Retry-After`, so it is read first."""
    assert retry_after_of({"retry-after-ms": "250", "retry-after": "9"}, now=NOW) == 0.25
    assert retry_after_of({"retry-after": "9"}, now=NOW) == 9.0
    assert retry_after_of({}, now=NOW) is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"ratelimit-remaining": "0", "ratelimit-reset": "12"}, 12.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW + 40))}, 40.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(NOW - 40))}, 0.0),
        ({"ratelimit-remaining": "3", "ratelimit-reset": "12"}, None),
        ({"ratelimit-remaining": "0"}, None),
        ({"ratelimit-reset": "12"}, None),
        ({"ratelimit-remaining": "none", "ratelimit-reset": "12"}, None),
    ],
    ids=["delta", "epoch", "epoch-past", "requests-left", "no-reset", "no-remaining", "garbage"],
)
def test_rate_limit_reset(headers: dict[str, str], expected: float | None) -> None:
    """A used-up quota pauses until its reset, read as delta seconds or an epoch timestamp."""
    assert expected == rate_limit_reset_of(headers, now=NOW)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"x-request-id": "req_123"}, "req_123"),
        ({"request-id": "abc", "x-request-id": "first"}, "first"),
        ({"x-request-id": "x" * 129}, None),
        ({"x-request-id": "has space"}, None),
        ({}, None),
    ],
    ids=["found", "first-name-wins", "too-long", "unprintable", "absent"],
)
def test_request_id_of(headers: dict[str, str], expected: str | None) -> None:
    """The upstream request id is taken from the first known header, if it is a sane token."""
    assert expected == request_id_of(headers, ("x-request-id", "request-id"))


def test_redact_headers_masks_credentials() -> None:
    """Authorization, API-key, token and cookie headers are masked; others are kept."""
    headers = [
        ("Authorization", "Bearer sk"),
        ("X-Api-Key", "k"),
        ("X-Auth-Token", "t"),
        ("Cookie", "c"),
        ("Accept", "application/json"),
    ]
    assert redact_headers(headers) == {
        "Authorization": MASK,
        "X-Api-Key": MASK,
        "X-Auth-Token": MASK,
        "Cookie": MASK,
        "Accept": "application/json",
    }


def test_redact_fields_masks_personal_and_secret_fields_at_any_depth() -> None:
    """Personal fields (any case) and secret-looking ones are masked in nested objects and lists."""
    body = {
        "Email": "alice@example.com",
        "password": "pw",
        "items": [{"name": "Alice", "sku": "A1"}],
        "meta": {"api_key": "k", "count": 2},
    }
    assert redact_fields(body, frozenset({"email", "name"})) == {
        "Email": MASK,
        "password": MASK,
        "items": [{"name": MASK, "sku": "A1"}],
        "meta": {"api_key": MASK, "count": 2},
    }
