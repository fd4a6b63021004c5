"""Orders."""

from __future__ import annotations

from typing import TYPE_CHECKING

import users.shared.events  # expect: ARCH-1
from users.shared import orm  # expect: PG-7
from users.shared.cachelib import NS  # expect: ARCH-1
import fastapi  # expect: ARCH-1
from starlette.requests import Request  # expect: ARCH-1
from users.shared.pure import Color  # ok: pure
from users.domain.entity.user import User  # ok: domain
import uuid  # ok: stdlib

if TYPE_CHECKING:
    from collections.abc import Iterable  # ok: stdlib

ALL = (users.shared.events, orm, NS, fastapi, Request, Color, User, uuid)
