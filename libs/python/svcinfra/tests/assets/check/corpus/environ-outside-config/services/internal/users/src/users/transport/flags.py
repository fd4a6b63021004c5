"""Feature flags read from the environment in the transport layer."""

from __future__ import annotations

import os
from os import environ, getenv
from os import environ as env

DEBUG = os.environ.get("DEBUG") == "1"  # expect: CF-6
LEVEL = getenv("LOG_LEVEL", "info")  # expect: CF-6
REGION = environ["REGION"]  # expect: CF-6
ZONE = env.get("ZONE")  # expect: CF-6


def token() -> str | None:
    return os.getenv("PARTNER_TOKEN")  # expect: CF-6


def path() -> str:
    return os.path.join("a", "b")  # ok: os, not the environment


def cwd() -> str:
    return os.getcwd()  # ok: not the environment


def sep() -> str:
    return os.sep  # ok: not the environment
