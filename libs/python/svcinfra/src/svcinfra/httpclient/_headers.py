"""What an API says in its headers (Retry-After, rate-limit reset, request id); redaction.

The parsers are pure: they take the header values and the current time and never raise on
garbage (an unparsable header is treated as absent), because a misbehaving upstream must not
turn a retryable failure into a crash.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING

from svcinfra.config import MASK, looks_secret

if TYPE_CHECKING:
    from collections.abc import Iterable

# An epoch timestamp is far larger than any sensible delay: GitHub's X-RateLimit-Reset is one,
# the IETF RateLimit-Reset draft sends delta seconds.
_EPOCH_THRESHOLD = 1_000_000_000.0
_DELTA = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*$")
_REQUEST_ID = re.compile(r"^[\x21-\x7e]{1,128}$")

REMAINING_HEADERS = ("ratelimit-remaining", "x-ratelimit-remaining", "x-rate-limit-remaining")
RESET_HEADERS = ("ratelimit-reset", "x-ratelimit-reset", "x-rate-limit-reset")


def parse_retry_after(value: str, *, now: float) -> float | None:
    """Return the seconds a `Retry-After` value asks to wait, or None when it is not valid.

    Args:
        value: delay-seconds (`120`) or an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`).
        now: the current wall-clock time (`time.time()`), to turn a date into a delay.
    """
    if match := _DELTA.match(value):
        return _finite(float(match[1]))
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are GMT; a zone-less one is read as such rather than as local time.
        return None
    return max(0.0, when.timestamp() - now)


def retry_after_of(headers: Mapping[str, str], *, now: float) -> float | None:
    """Return the delay asked by `retry-after-ms` or `Retry-After`, if either is valid."""
    if (millis := headers.get("retry-after-ms")) is not None and (match := _DELTA.match(millis)):
        return _finite(float(match[1]) / 1000)
    if (value := headers.get("retry-after")) is not None:
        return parse_retry_after(value, now=now)
    return None


def rate_limit_reset_of(headers: Mapping[str, str], *, now: float) -> float | None:
    """Return the seconds until the rate-limit window resets, when no request is left in it.

    Reads `RateLimit-Remaining`/`X-RateLimit-Remaining` and `RateLimit-Reset`/`X-RateLimit-Reset`
    (delta seconds, or an epoch timestamp as GitHub sends). None when requests remain or the
    headers are absent or unparsable.
    """
    remaining = _first(headers, REMAINING_HEADERS)
    if remaining is None or not (match := _DELTA.match(remaining)) or float(match[1]) > 0:
        return None
    reset = _first(headers, RESET_HEADERS)
    if reset is None or not (match := _DELTA.match(reset)):
        return None
    seconds = float(match[1])
    if seconds >= _EPOCH_THRESHOLD:
        seconds -= now
    return _finite(max(0.0, seconds))


def request_id_of(headers: Mapping[str, str], names: Iterable[str]) -> str | None:
    """Return the first upstream request id found under `names` (printable, at most 128 chars)."""
    value = _first(headers, names)
    if value is None or not _REQUEST_ID.match(value):
        return None
    return value


def redact_headers(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """Return the headers with every secret-looking one (Authorization, X-Api-Key...) masked."""
    return {name: MASK if looks_secret(name) else value for name, value in headers}


def redact_fields(value: object, personal: frozenset[str]) -> object:
    """Return a JSON-like value with personal and secret-looking fields masked, at every depth.

    Field names are compared case-insensitively; `personal` holds lower-case names.
    """
    if isinstance(value, Mapping):
        return {
            key: MASK
            if isinstance(key, str) and (key.lower() in personal or looks_secret(key))
            else redact_fields(item, personal)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_fields(item, personal) for item in value]
    return value


def _first(headers: Mapping[str, str], names: Iterable[str]) -> str | None:
    for name in names:
        if (value := headers.get(name)) is not None:
            return value
    return None


def _finite(seconds: float) -> float | None:
    return seconds if math.isfinite(seconds) else None
