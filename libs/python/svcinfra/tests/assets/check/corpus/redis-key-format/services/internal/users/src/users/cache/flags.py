"""Feature flags in Redis."""

from __future__ import annotations

import redis

pool = redis.ConnectionPool()
flags = redis.Redis(connection_pool=pool)
PREFIX = "flags"


def read(name: str, tenant: str) -> bytes | None:
    flags.get("flag:" + tenant + ":" + name)  # ok: three parts
    flags.get(f"{tenant}-{name}")  # expect: RD-3
    flags.hget("flags", name)  # expect: RD-3
    flags.get("feature.%s.%s" % (tenant, name))  # expect: RD-3
    flags.delete("flags::" + name)  # expect: RD-3
    return flags.get("FLAGS/" + name)  # expect: RD-3


def ok(name: str) -> None:
    flags.get(f"flags:feature:{name}")  # ok: the format
    flags.get("flags:feature:{}".format(name))  # ok: the format
