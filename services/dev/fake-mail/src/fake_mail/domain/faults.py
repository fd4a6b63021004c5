"""The faults fake-mail injects: a script of outcomes first, a rate limit, then random ratios.

The rate limit is the one limit every real mail API has (Resend: 2 requests/s per team;
Postmark, Mailgun, SendGrid and Amazon SES: a sending rate per account): a token bucket of
`rate_limit_per_second` tokens, refilled continuously, one token per POST; a POST finding no
token is answered 429 with `Retry-After`, the whole seconds until the next token.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

ERROR_STATUSES: Final = frozenset({500, 502, 503})
RATE_LIMITED: Final = 429
_STEP_KEYS: Final = frozenset({"status", "retry_after", "crash_after_accept"})


class Outcome(StrEnum):
    """What happens to one POST /v1/messages."""

    PROCEED = "proceed"
    RATE_LIMIT = "rate_limit"
    ERROR = "error"
    CRASH_AFTER_ACCEPT = "crash_after_accept"


@dataclass(frozen=True, slots=True)
class ScriptStep:
    """One scripted outcome: a status (429, 500, 502, 503) or a crash after accepting.

    Attributes:
        status: 429 or a 5xx to answer instead of processing; None to process the request.
        retry_after: Retry-After seconds of a 429; None: the faults' `retry_after`.
        crash_after_accept: process the request, then drop the connection without a response.
    """

    status: int | None = None
    retry_after: int | None = None
    crash_after_accept: bool = False

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in ERROR_STATUSES | {RATE_LIMITED}:
            raise ValueError(f"status must be 429, 500, 502 or 503, not {self.status}")
        if self.status is not None and self.crash_after_accept:
            raise ValueError("a step has either a status or crash_after_accept, not both")
        if self.status is None and not self.crash_after_accept:
            raise ValueError("a step needs a status or crash_after_accept: true")
        if self.retry_after is not None and not 0 <= self.retry_after <= 3600:  # noqa: PLR2004
            raise ValueError("retry_after must be 0..3600 seconds")

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> ScriptStep:
        """Build a step from its JSON form, `{"status": 429, "retry_after": 1}`.

        Raises:
            ValueError: an unknown key, a wrong type or an impossible combination.
        """
        unknown = set(data) - _STEP_KEYS
        if unknown:
            raise ValueError(f"unknown key(s) in a script step: {', '.join(sorted(unknown))}")
        status, retry_after = data.get("status"), data.get("retry_after")
        crash = data.get("crash_after_accept", False)
        for name, value in (("status", status), ("retry_after", retry_after)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
                raise ValueError(f"{name} must be an integer")
        if not isinstance(crash, bool):
            raise ValueError("crash_after_accept must be true or false")  # noqa: TRY004  (pydantic reports ValueError)
        return cls(status=status, retry_after=retry_after, crash_after_accept=crash)  # type: ignore[arg-type]

    def as_dict(self) -> dict[str, object]:
        """Return the JSON form."""
        if self.crash_after_accept:
            return {"crash_after_accept": True}
        out: dict[str, object] = {"status": self.status}
        if self.retry_after is not None:
            out["retry_after"] = self.retry_after
        return out


@dataclass(frozen=True, slots=True)
class Faults:
    """The fault settings; the default is no fault at all."""

    latency_ms: int = 0
    error_ratio: float = 0.0
    error_status: int = 503
    rate_limit_ratio: float = 0.0
    retry_after: int = 1
    reject: tuple[str, ...] = ()
    crash_after_accept_ratio: float = 0.0
    script: tuple[ScriptStep, ...] = ()
    seed: int | None = None
    rate_limit_per_second: int = 0  # 0: no limit

    def __post_init__(self) -> None:
        if not 0 <= self.rate_limit_per_second <= 100_000:  # noqa: PLR2004
            raise ValueError("rate_limit_per_second must be within 0..100000")
        for name in ("error_ratio", "rate_limit_ratio", "crash_after_accept_ratio"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        if self.error_status not in ERROR_STATUSES:
            raise ValueError("error_status must be 500, 502 or 503")

    def as_dict(self) -> dict[str, object]:
        """Return the JSON form, as `GET /v1/faults` shows it."""
        return {
            "latency_ms": self.latency_ms,
            "error_ratio": self.error_ratio,
            "error_status": self.error_status,
            "rate_limit_ratio": self.rate_limit_ratio,
            "retry_after": self.retry_after,
            "reject": list(self.reject),
            "crash_after_accept_ratio": self.crash_after_accept_ratio,
            "script": [step.as_dict() for step in self.script],
            "seed": self.seed,
            "rate_limit_per_second": self.rate_limit_per_second,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome drawn for one POST, with the status and Retry-After it answers with."""

    outcome: Outcome
    status: int | None = None
    retry_after: int | None = None


@dataclass(slots=True)
class FaultInjector:
    """Draws the outcome of each POST: scripted steps in order, then the ratios."""

    faults: Faults = field(default_factory=Faults)
    clock: Callable[[], float] = time.monotonic
    _script: deque[ScriptStep] = field(init=False)
    _random: random.Random = field(init=False)
    _tokens: float = field(init=False)
    _refilled: float = field(init=False)

    def __post_init__(self) -> None:
        self.replace(self.faults)

    def replace(self, faults: Faults) -> None:
        """Install new settings: the script restarts and the random draws restart from `seed`."""
        self.faults = faults
        self._script = deque(faults.script)
        self._random = random.Random(faults.seed)  # noqa: S311  (fault draws, not cryptography)
        self._tokens = float(faults.rate_limit_per_second)  # a full bucket: one second's burst
        self._refilled = self.clock()

    @property
    def remaining_script(self) -> tuple[ScriptStep, ...]:
        """The scripted steps not used yet."""
        return tuple(self._script)

    def draw(self) -> Decision:
        """Return the outcome of the next POST before it is processed."""
        faults = self.faults
        if self._script:
            step = self._script.popleft()
            if step.crash_after_accept:
                return Decision(Outcome.CRASH_AFTER_ACCEPT)
            if step.status == RATE_LIMITED:
                retry_after = faults.retry_after if step.retry_after is None else step.retry_after
                return Decision(Outcome.RATE_LIMIT, RATE_LIMITED, retry_after)
            return Decision(Outcome.ERROR, step.status, step.retry_after)
        wait = self._take_token()  # the limit first: a request over it draws no ratio
        if wait is not None or self._chance(faults.rate_limit_ratio):
            retry_after = faults.retry_after if wait is None else wait
            return Decision(Outcome.RATE_LIMIT, RATE_LIMITED, retry_after)
        if self._chance(faults.error_ratio):
            return Decision(Outcome.ERROR, faults.error_status)
        return Decision(Outcome.PROCEED)

    def crash_after_accept(self) -> bool:
        """Draw whether a newly accepted message's response is dropped (the ratio)."""
        return self._chance(self.faults.crash_after_accept_ratio)

    def rejects(self, address: str) -> str | None:
        """Return why `address` is rejected, or None when it is not."""
        address = address.lower()
        domain = "@" + address.rpartition("@")[2]
        for rule in self.faults.reject:
            rule_lower = rule.lower()
            if rule_lower == address:
                return f"{address} is on the reject list"
            if rule_lower.startswith("@") and rule_lower == domain:
                return f"domain {domain[1:]} is on the reject list"
        return None

    def _take_token(self) -> int | None:
        """Take a token of the rate limit; None when taken (or no limit), else Retry-After."""
        rate = self.faults.rate_limit_per_second
        if not rate:
            return None
        now = self.clock()
        self._tokens = min(float(rate), self._tokens + (now - self._refilled) * rate)
        self._refilled = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - self._tokens) / rate))

    def _chance(self, ratio: float) -> bool:
        # A ratio of 0 or 1 draws nothing, so a seeded sequence only depends on the real ratios.
        if ratio <= 0.0:
            return False
        if ratio >= 1.0:
            return True
        return self._random.random() < ratio
