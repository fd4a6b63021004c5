"""Reads the environment directly."""

import os
from os import getenv


def enabled() -> bool:
    """Read a flag."""
    return os.environ.get("USERS_FLAG") == "1" or getenv("OTHER") == "1"
