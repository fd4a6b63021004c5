"""What is retried and how long to wait: status mapping, idempotency and full-jitter backoff (EX-3).

A failure is retried only when it is temporary *and* repeating the request cannot apply its
effect twice:

* connect errors and timeouts, pool timeouts: the request never left, always safe;
* read/write timeouts, resets, a body cut half-way, 408, 429, 502, 503, 504: retried when the
  request is idempotent (a safe method, or one carrying an idempotency key);
* 500: retried only for idempotent requests as well (the server may have acted before failing);
* everything else (4xx, 501, 505, a decoding failure, an open circuit): never.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

import httpx

from ._errors import (
    CircuitOpenError,
    DeadlineExceededError,
    ExternalApiError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    TemporaryError,
    UnauthorizedError,
)

if TYPE_CHECKING:
    from collections.abc import Callable

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
RETRYABLE_STATUSES = frozenset({408, 429, 502, 503, 504})
# Failures that happen before a single byte of the request reached the server.
NOT_SENT_REASONS = frozenset({"connect_error", "connect_timeout", "pool_timeout"})
# Failures after the request may have reached the server: the answer was lost or cut short.
LOST_ANSWER_REASONS = frozenset(
    {"read_timeout", "write_timeout", "network_error", "protocol_error"},
)
_NEVER_RETRIED = (CircuitOpenError, DeadlineExceededError, PermanentError)


def error_class_for_status(status: int) -> type[ExternalApiError]:
    """Return the error class a non-success HTTP status maps to (EX-4)."""
    if status == 429:  # noqa: PLR2004  (the one status with a class of its own)
        return RateLimitedError
    if status in {401, 403}:
        return UnauthorizedError
    if status in {404, 410}:
        return NotFoundError
    if status == 408 or (status >= 500 and status not in {501, 505}):  # noqa: PLR2004
        return TemporaryError
    if 400 <= status < 500:  # noqa: PLR2004
        return InvalidRequestError
    # 3xx (redirects are not followed: an adapter targets exact URLs), 501, 505, nonsense.
    return PermanentError


def is_retryable(error: ExternalApiError, *, idempotent: bool) -> bool:
    """Tell whether the request that failed with `error` may be sent again (EX-3)."""
    if isinstance(error, _NEVER_RETRIED) or not isinstance(error, TemporaryError):
        return False
    if error.reason in NOT_SENT_REASONS:
        return True
    if not idempotent:
        return False
    if error.status is None:
        # Our own limiter's RateLimitedError has no status and must not be retried.
        return error.reason in LOST_ANSWER_REASONS
    return error.status in RETRYABLE_STATUSES or error.status == 500  # noqa: PLR2004


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter: wait n is uniform in [0, min(cap, initial * 2**(n-1))].

    Full jitter ("Exponential Backoff And Jitter", AWS Architecture Blog) spreads the retries of
    many clients best, so a burst of failures does not come back as a synchronised burst.
    """

    initial: float
    cap: float
    random: Callable[[], float] = random.random

    def ceiling(self, retry: int) -> float:
        """Return the upper bound of the `retry`-th wait (1-based)."""
        if retry < 1:
            raise ValueError(f"retry numbers start at 1, got {retry}")
        # Past 2**64 the bound is the cap anyway; this also keeps the power from overflowing.
        return min(self.cap, self.initial * 2.0 ** min(retry - 1, 64))

    def delay(self, retry: int) -> float:
        """Return a random wait before the `retry`-th retry (1-based)."""
        return self.random() * self.ceiling(retry)


# Transport failures, most specific first: (httpx class, reason, message).
_TRANSPORT_FAILURES: tuple[tuple[type[httpx.HTTPError], type[ExternalApiError], str, str], ...] = (
    (httpx.DecodingError, MalformedResponseError, "malformed_response", "undecodable content"),
    (httpx.LocalProtocolError, InvalidRequestError, "invalid_request", "request not sendable"),
    (httpx.UnsupportedProtocol, InvalidRequestError, "invalid_request", "request not sendable"),
    (httpx.ConnectTimeout, TemporaryError, "connect_timeout", "connect timeout"),
    (httpx.ReadTimeout, TemporaryError, "read_timeout", "read timeout"),
    (httpx.WriteTimeout, TemporaryError, "write_timeout", "write timeout"),
    (httpx.PoolTimeout, TemporaryError, "pool_timeout", "no free connection in the pool"),
    (httpx.ConnectError, TemporaryError, "connect_error", "connection failed"),
    (httpx.ProxyError, TemporaryError, "connect_error", "proxy failed"),
    (httpx.RemoteProtocolError, TemporaryError, "protocol_error", "the server broke off"),
    (httpx.NetworkError, TemporaryError, "network_error", "connection lost"),
)


def transport_failure(exc: httpx.HTTPError) -> tuple[type[ExternalApiError], str, str]:
    """Return the error class, reason and message for an httpx failure without a response.

    The message is ours, never httpx's: that one may quote the URL with its ids and query.
    """
    for kind, error, reason, message in _TRANSPORT_FAILURES:
        if isinstance(exc, kind):
            return error, reason, message
    return TemporaryError, "network_error", type(exc).__name__
