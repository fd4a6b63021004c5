"""`Call`: one logical call's retry state, as tenacity's retry, wait, stop and sleep hooks (EX-3).

tenacity decides (`run_with_retries`); this object supplies its four strategies so that the
rules live in one place:

* retry: only what `is_retryable` allows, and not when `Retry-After` is over its cap;
* wait: `Retry-After` when the API sent one, else full-jitter exponential backoff;
* stop: after the last allowed attempt, or when the wait would end past the call's deadline,
  so that the caller gets the real failure now instead of a timeout later;
* before sleep: the retry metric and a debug line.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

import structlog
from tenacity import DoAttempt, DoSleep, RetryCallState, Retrying

from ._errors import ExternalApiError
from ._policy import Backoff, is_retryable
from ._telemetry import LOGGER_NAME, RETRIES

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from uuid import UUID

    import httpx

T = TypeVar("T")
UNSET = object()
QueryValue = str | int | float | bool | None


@dataclass(slots=True, kw_only=True)  # not frozen: that costs ~3 us per call
class RequestSpec:
    """What the caller asked for, before it becomes an `httpx.Request` (see `ApiClient.request`)."""

    method: str
    route: str
    path: Mapping[str, str | int | UUID] | None
    params: Mapping[str, QueryValue] | None
    json: object
    content: bytes | None
    headers: Mapping[str, str] | None
    idempotency_key: str | None
    idempotent: bool | None
    deadline: float | None


class Call:
    """The state of one logical call across its attempts."""

    __slots__ = (
        "adapter",
        "attempts",
        "backoff",
        "deadline",
        "deadline_at",
        "idempotency_key",
        "idempotent",
        "last_error",
        "max_attempts",
        "method",
        "request",
        "request_id",
        "retry_after_max",
        "route",
    )

    def __init__(
        self,
        *,
        adapter: str,
        method: str,
        route: str,
        request: httpx.Request,
        idempotent: bool,
        idempotency_key: str | None,
        deadline: float,
        max_attempts: int,
        backoff: Backoff,
        retry_after_max: float,
    ) -> None:
        self.adapter = adapter
        self.method = method
        self.route = route
        self.request = request
        self.idempotent = idempotent
        self.idempotency_key = idempotency_key
        self.deadline = deadline
        self.deadline_at = asyncio.get_running_loop().time() + deadline
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.retry_after_max = retry_after_max
        self.attempts = 0
        self.last_error: ExternalApiError | None = None
        self.request_id: str | None = None

    def remaining(self) -> float:
        """Seconds left before the call's deadline."""
        return self.deadline_at - asyncio.get_running_loop().time()

    def should_retry(self, state: RetryCallState) -> bool:
        """Tenacity's `retry`: whether the failed attempt may be repeated at all."""
        error = state.outcome.exception() if state.outcome is not None else None
        if not isinstance(error, ExternalApiError):
            return False
        self.last_error = error
        if not is_retryable(error, idempotent=self.idempotent):
            return False
        # A Retry-After beyond the cap is honoured by not retrying inside this call at all:
        # the caller gets the error with `retry_after` and may reschedule the work.
        return error.retry_after is None or error.retry_after <= self.retry_after_max

    def wait(self, state: RetryCallState) -> float:
        """Tenacity's `wait`: Retry-After when given, else a full-jitter backoff."""
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, ExternalApiError) and error.retry_after is not None:
            return error.retry_after
        return self.backoff.delay(state.attempt_number)

    def stop(self, state: RetryCallState) -> bool:
        """Tenacity's `stop`: out of attempts, or the wait would reach past the deadline."""
        if state.attempt_number >= self.max_attempts:
            return True
        return state.upcoming_sleep >= self.remaining()

    def before_sleep(self, state: RetryCallState) -> None:
        """Tenacity's `before_sleep`: count the retry and say why, at debug level."""
        error = self.last_error
        if error is None:
            reason = "unknown"
        else:
            reason = error.reason if error.status is None else str(error.status)
        RETRIES.labels(self.adapter, self.route, reason).inc()
        structlog.get_logger(LOGGER_NAME).debug(
            "external_api_retry",
            adapter=self.adapter,
            method=self.method,
            route=self.route,
            attempt=state.attempt_number,
            reason=reason,
            wait_s=round(state.upcoming_sleep, 4),
        )


async def run_with_retries(call: Call, attempt: Callable[[Call], Awaitable[T]]) -> T:
    """Run `attempt` as tenacity's `Retrying` engine, fed the call's strategies, directs.

    tenacity decides everything: whether a failure is retried, how long to wait, when to stop
    and what to do before sleeping. This coroutine only performs the attempts and the sleeps,
    as `tenacity.AsyncRetrying.__call__` does, but without wrapping each (synchronous) strategy
    into a coroutine on every call. The engine's first decision is always "attempt", so it is
    built only once the first attempt has failed: most calls succeed at once and pay nothing
    for retries they do not need (about 40 us per call otherwise, EX-3).
    """
    try:
        return await attempt(call)
    except BaseException:  # noqa: BLE001  (handed to tenacity, whose `retry` re-raises the rest)
        failure = sys.exc_info()
    engine = Retrying(
        retry=call.should_retry,
        wait=call.wait,
        stop=call.stop,
        before_sleep=call.before_sleep,
        reraise=True,
    )
    engine.begin()
    state = RetryCallState(engine, fn=None, args=(), kwargs={})
    engine.iter(state)  # the first "attempt" decision: that attempt has already run
    state.set_exception(failure)  # type: ignore[arg-type]
    while True:
        action = engine.iter(state)
        if isinstance(action, DoSleep):
            state.prepare_for_next_attempt()
            await asyncio.sleep(action)
        elif isinstance(action, DoAttempt):
            try:
                result = await attempt(call)
            except BaseException:  # noqa: BLE001  (as above)
                state.set_exception(sys.exc_info())  # type: ignore[arg-type]
            else:
                state.set_result(result)
        else:
            return cast("T", action)
