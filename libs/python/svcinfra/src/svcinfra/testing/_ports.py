"""`free_port`: a loopback TCP port for a server a test starts, never handed out twice."""

from __future__ import annotations

import os
import random
import socket

# Ports are picked below the kernel's ephemeral range (32768-60999 on Linux): a port the kernel
# hands out for `bind(0)` may be taken a moment later as the source port of an outgoing
# connection (the load generators open hundreds) before the process that was given it binds it.
# `SVCINFRA_PORT_RANGE=16800-16999` narrows the choice (a machine shared by several test runs).
_DEFAULT_RANGE = (20_000, 32_000)
_handed_out: set[int] = set()


def port_range() -> tuple[int, int]:
    """The range ports are picked from: `SVCINFRA_PORT_RANGE` (`low-high`) or 20000-32000.

    Raises:
        ValueError: the variable is not `low-high` with 1 <= low <= high <= 65535.
    """
    configured = os.environ.get("SVCINFRA_PORT_RANGE", "").strip()
    if not configured:
        return _DEFAULT_RANGE
    low, sep, high = configured.partition("-")
    if not (sep and low.isdigit() and high.isdigit() and 1 <= int(low) <= int(high) <= 65535):  # noqa: PLR2004
        raise ValueError(
            f"SVCINFRA_PORT_RANGE must be low-high (e.g. 16800-16999), not {configured!r}"
        )
    return int(low), int(high) + 1


def free_port() -> int:
    """A TCP port free on loopback right now, outside the ephemeral range, never given twice.

    Raises:
        OSError: no port of the range could be bound.
    """
    low, high = port_range()
    candidates = list(range(low, high))
    random.shuffle(candidates)
    for port in candidates:
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise OSError(f"no free port between {low} and {high - 1} on 127.0.0.1")
