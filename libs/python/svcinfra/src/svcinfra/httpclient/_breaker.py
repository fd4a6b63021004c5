"""`CircuitBreaker`: stop calling an API that keeps failing, and probe it back into service."""

from __future__ import annotations

import asyncio
import enum
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class CircuitState(enum.IntEnum):
    """The state of a circuit; the value is what the `circuit_state` gauge shows."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class Outcome(enum.Enum):
    """What one attempt says about the upstream's health."""

    HEALTHY = "healthy"  # an answer that is not a server failure (2xx, 4xx)
    FAILED = "failed"  # a temporary failure: timeout, reset, 5xx
    NEUTRAL = "neutral"  # says nothing: 429, or the caller gave up


@dataclass(frozen=True, slots=True)
class Admission:
    """The breaker's answer to one attempt.

    Attributes:
        allowed: whether the attempt may be sent.
        probe: whether it is the single probe of a half-open circuit.
        retry_after: when refused, seconds until a probe will be let through.
        probe_out: when refused, whether it is because a half-open circuit's probe is out
            (`verdict()` waits for its outcome).
    """

    allowed: bool
    probe: bool = False
    retry_after: float = 0.0
    probe_out: bool = False


_ADMITTED = Admission(allowed=True)
_PROBE = Admission(allowed=True, probe=True)


class CircuitBreaker:
    """A consecutive-failure circuit breaker for one adapter (one event loop, no locks needed).

    * closed: attempts go through; `threshold` temporary failures in a row open it;
    * open: attempts are refused for `reset_timeout` seconds (the caller fails fast with a
      temporary error instead of piling up timeouts on a sick upstream);
    * half-open: one probe goes through; the others are refused with `probe_out`, and a caller
      may await `verdict()` and ask again, so that the calls arriving while the probe is out are
      not failed for an upstream that may be back (a retry wave's last attempts, issue 17); a
      healthy probe closes the circuit, a failed one opens it for another `reset_timeout`.

    `on_change(old, new)` is called on every transition (metrics, a log line).
    """

    __slots__ = (
        "_clock",
        "_failures",
        "_on_change",
        "_opened_at",
        "_probing",
        "_state",
        "_verdict",
        "reset_timeout",
        "threshold",
    )

    def __init__(
        self,
        *,
        threshold: int,
        reset_timeout: float,
        on_change: Callable[[CircuitState, CircuitState], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if threshold < 1 or reset_timeout <= 0:
            raise ValueError("threshold must be >= 1 and reset_timeout > 0")
        self.threshold = threshold
        self.reset_timeout = reset_timeout
        self._on_change = on_change
        self._clock = clock
        self._state = CircuitState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False
        self._verdict: asyncio.Future[None] | None = None

    @property
    def state(self) -> CircuitState:
        """The current state; an open circuit turns half-open once `reset_timeout` has passed."""
        if (
            self._state is CircuitState.OPEN
            and self._clock() - self._opened_at >= self.reset_timeout
        ):
            self._move(CircuitState.HALF_OPEN)
        return self._state

    def admit(self) -> Admission:
        """Decide whether an attempt may be sent now.

        An allowed attempt must be followed by exactly one `record`, with its admission.
        """
        state = self.state
        if state is CircuitState.CLOSED:
            return _ADMITTED
        if state is CircuitState.HALF_OPEN and not self._probing:
            self._probing = True
            return _PROBE
        if state is CircuitState.HALF_OPEN:
            # A probe is out: the others wait for its verdict, at least one timeout's worth.
            return Admission(allowed=False, retry_after=self.reset_timeout, probe_out=True)
        left = max(0.0, self.reset_timeout - (self._clock() - self._opened_at))
        return Admission(allowed=False, retry_after=left)

    async def verdict(self) -> None:
        """Wait until the probe that is out now (if any) has been recorded.

        The caller then asks `admit()` again: closed, it goes through; open again, it is
        refused; still half-open (the probe said nothing, e.g. its caller gave up), it may
        become the next probe. Bound the wait by the caller's own deadline.
        """
        if not self._probing:
            return
        if self._verdict is None or self._verdict.done():
            self._verdict = asyncio.get_running_loop().create_future()
        await asyncio.shield(self._verdict)

    def record(self, admission: Admission, outcome: Outcome) -> None:
        """Record how an allowed attempt went."""
        probe = admission.probe
        if probe:
            self._probing = False
            verdict, self._verdict = self._verdict, None
            if verdict is not None and not verdict.done():
                verdict.set_result(None)
        if outcome is Outcome.HEALTHY:
            self._failures = 0
            if self._state is not CircuitState.CLOSED:
                self._move(CircuitState.CLOSED)
        elif outcome is Outcome.FAILED:
            self._failures += 1
            if probe or (self._state is CircuitState.CLOSED and self._failures >= self.threshold):
                self._opened_at = self._clock()
                self._move(CircuitState.OPEN)

    def _move(self, new: CircuitState) -> None:
        old, self._state = self._state, new
        if new is CircuitState.CLOSED:
            self._failures = 0
        if self._on_change is not None and old is not new:
            self._on_change(old, new)
