"""`TTLPolicy`: a mandatory, bounded TTL, jittered on every write (RD-2)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from ._errors import TTLError

__all__ = ["DEFAULT_JITTER", "MAX_JITTER", "TTLPolicy", "check_ttl", "is_number"]

DEFAULT_JITTER = 0.1
MAX_JITTER = 0.5
_MIN_TTL = 0.001  # Redis PX resolution


def is_number(value: object) -> bool:
    """Tell whether `value` is an int or a float (a bool is neither, here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_ttl(ttl: object, *, max_ttl: float, what: str = "ttl") -> float:
    """Return `ttl` as seconds if it is a number in (0, `max_ttl`].

    Raises:
        TTLError: `ttl` is None, not a number, not finite, not positive or above `max_ttl`.
    """
    if ttl is None:
        raise TTLError(f"{what} is required: a cache entry without a TTL lives forever (RD-2)")
    if not is_number(ttl):
        raise TTLError(f"{what} must be a number of seconds, not {type(ttl).__name__} (RD-2)")
    seconds = float(ttl)  # type: ignore[arg-type]  # (is_number checked it)
    if not math.isfinite(seconds) or seconds < _MIN_TTL:
        raise TTLError(f"{what} must be at least {_MIN_TTL} s, got {ttl!r} (RD-2)")
    if seconds > max_ttl:
        raise TTLError(f"{what} {ttl!r} s is above the upper bound {max_ttl:g} s (RD-2)")
    return seconds


@dataclass(frozen=True, slots=True)
class TTLPolicy:
    """A cache's default TTL, its upper bound and its jitter.

    Jitter spreads the expiry of keys written together (a warm-up, a burst of misses) over
    `ttl * (1 - jitter) .. ttl * (1 + jitter)`, so that they do not all expire in the same
    instant and send one stampede to the source of truth. The jittered TTL never exceeds
    `max_ttl`.

    Raises:
        TTLError: `ttl` is missing or out of (0, `max_ttl`], or `jitter` is out of [0, 0.5].
    """

    ttl: float
    max_ttl: float
    jitter: float = DEFAULT_JITTER

    def __post_init__(self) -> None:
        if not (is_number(self.max_ttl) and self.max_ttl >= _MIN_TTL):
            raise TTLError(f"max_ttl must be a positive number of seconds, got {self.max_ttl!r}")
        object.__setattr__(self, "ttl", check_ttl(self.ttl, max_ttl=self.max_ttl))
        if not (is_number(self.jitter) and 0 <= self.jitter <= MAX_JITTER):
            raise TTLError(f"jitter must be between 0 and {MAX_JITTER}, got {self.jitter!r}")

    def pick_ms(self, ttl: float | None = None) -> int:
        """Return a jittered TTL in milliseconds for one write; `ttl` overrides the default.

        Raises:
            TTLError: the override is out of (0, `max_ttl`].
        """
        base = self.ttl if ttl is None else check_ttl(ttl, max_ttl=self.max_ttl)
        spread = random.uniform(1.0 - self.jitter, 1.0 + self.jitter)  # noqa: S311  (not crypto)
        return max(1, min(round(base * spread * 1000), round(self.max_ttl * 1000)))
