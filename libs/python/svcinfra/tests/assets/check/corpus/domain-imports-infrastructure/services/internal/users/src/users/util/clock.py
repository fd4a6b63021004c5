"""Time, from the standard library only."""

import datetime


def now() -> datetime.datetime:
    """The current UTC time."""
    return datetime.datetime.now(tz=datetime.UTC)
