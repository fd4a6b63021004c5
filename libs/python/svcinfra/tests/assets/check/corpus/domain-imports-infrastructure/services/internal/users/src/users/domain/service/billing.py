"""Billing use cases: every way the domain can reach infrastructure."""

import redis  # expect: ARCH-1
from users.util import models  # expect: ARCH-1
from users.util.http import fetch_rate  # expect: ARCH-1
from users.util import store  # expect: PG-7
from users.repository.postgres.users import repository  # expect: PG-7
from users.domain.entity.user import User  # ok: the domain's own entity
from users.util.clock import now  # ok: a helper on the standard library
from users.util.settings import Limits  # ok: svcinfra.config is not an adapter
import dataclasses  # ok: the standard library
from typing import Protocol  # ok: the standard library


class Rates(Protocol):
    """A port."""

    def rate(self) -> float:
        """The rate."""


def total(user: User, limits: Limits) -> object:
    """Touch every import so none is unused."""
    return (redis, models, fetch_rate, store, repository, now, dataclasses, user, limits)
