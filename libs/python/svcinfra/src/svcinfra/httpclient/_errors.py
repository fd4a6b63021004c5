"""Errors of `svcinfra.httpclient`: what a failed external API call means to the caller (EX-4).

```
ExternalApiError             a call to an external API failed (carries no body, ever)
├── TemporaryError           the same call may succeed later: retry, requeue, degrade
│   ├── RateLimitedError     the API (429) or our own limiter says: not now
│   ├── CircuitOpenError     the breaker is open: failing fast without calling
│   └── DeadlineExceededError  the call's total deadline ran out (EX-2)
└── PermanentError           the same call will fail again: fix the request or give up
    ├── InvalidRequestError  the API refused the request as malformed (400, 409, 422, ...)
    ├── UnauthorizedError    the credentials are missing, wrong or not allowed (401, 403)
    ├── NotFoundError        the resource does not exist (404, 410)
    └── MalformedResponseError  the answer could not be decoded

AdapterDefinitionError       an adapter class or its settings are wrong (a programming error)
AdapterUsageError            a call is malformed and was never sent (a programming error)
```

Every `ExternalApiError` names the adapter, method and route template, and carries the HTTP
status, the upstream request id and `Retry-After` when there were any; the response body is
never part of it. An adapter may add a short, safe `detail` (an API error code) through its
`error_detail` hook.
"""

from __future__ import annotations


class ExternalApiError(Exception):
    """A call to an external API failed; the root of every error a call raises (EX-4).

    Attributes:
        adapter: the adapter's name (`ApiClient.name`).
        method: the HTTP method.
        route: the route template (`/v1/users/{user_id}`), never the URL with ids or query.
        reason: a short machine-readable cause: `status`, `connect_timeout`, `read_timeout`,
            `write_timeout`, `pool_timeout`, `connect_error`, `network_error`,
            `protocol_error`, `rate_limited`, `circuit_open`, `deadline` or
            `malformed_response`.
        status: the HTTP status of the last response, if one came back.
        request_id: the upstream's request id header of the last response, if any.
        retry_after: seconds the upstream (or the breaker, or the limiter) asked to wait.
        attempts: how many times the request was sent (or tried to be).
        detail: a short, safe description from the adapter's `error_detail` hook.
    """

    def __init__(
        self,
        message: str,
        *,
        adapter: str,
        method: str,
        route: str,
        reason: str,
        status: int | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.adapter = adapter
        self.method = method
        self.route = route
        self.reason = reason
        self.status = status
        self.request_id = request_id
        self.retry_after = retry_after
        self.attempts = attempts
        self.detail = detail

    @property
    def temporary(self) -> bool:
        """Whether the same call may succeed later."""
        return isinstance(self, TemporaryError)

    def __str__(self) -> str:
        facts = [f"{self.attempts} attempt{'s' if self.attempts != 1 else ''}"]
        if self.status is not None:
            facts.insert(0, f"status {self.status}")
        if self.retry_after is not None:
            facts.append(f"retry after {self.retry_after:.3g}s")
        if self.request_id is not None:
            facts.append(f"request id {self.request_id}")
        text = f"{self.adapter} {self.method} {self.route}: {self.message} ({', '.join(facts)})"
        return f"{text}: {self.detail}" if self.detail else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class TemporaryError(ExternalApiError):
    """The call failed for a reason that may pass: connection, timeout, 408, 429, 5xx (EX-4)."""


class RateLimitedError(TemporaryError):
    """The API answered 429, or waiting for our own rate limiter would overrun the deadline."""


class CircuitOpenError(TemporaryError):
    """The circuit breaker is open after repeated temporary failures; nothing was sent.

    `retry_after` is the time until the breaker lets a probe through. `not_attempted` tells a
    message consumer that the call was refused before anything of it was sent, so the message
    is deferred for `retry_after` rather than charged an attempt (the "refused before sending"
    protocol of `svcinfra.messaging.consumer.classify`).
    """

    @property
    def not_attempted(self) -> bool:
        """Whether nothing of this call was sent: its first attempt was refused by the breaker.

        A call whose earlier attempts were sent (a 5xx that opened the circuit) was attempted.
        """
        return self.attempts <= 1


class DeadlineExceededError(TemporaryError):
    """The call's total deadline (retries and waits included) ran out (EX-2)."""


class PermanentError(ExternalApiError):
    """The call failed for a reason that retrying the same request cannot fix (EX-4)."""


class InvalidRequestError(PermanentError):
    """The API refused the request itself (400, 405, 409, 413, 422 and the other 4xx)."""


class UnauthorizedError(PermanentError):
    """The API refused the credentials or their permissions (401, 403)."""


class NotFoundError(PermanentError):
    """The resource does not exist (404, 410)."""


class MalformedResponseError(PermanentError):
    """The API answered success but its body could not be decoded as promised."""


class AdapterDefinitionError(TypeError):
    """An `ApiClient` subclass or the settings it was given break a rule (EX-1, EX-2, EX-5)."""


class AdapterUsageError(ValueError):
    """A call is malformed (route parameters, idempotency key, deadline); nothing was sent."""
