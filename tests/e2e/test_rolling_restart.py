"""A rolling restart of two users API replicas under load: not one failed request (issue 17).

Kubernetes removes a terminating pod from its Service's endpoints asynchronously: new
connections keep reaching it for a second or more after its SIGTERM. So on SIGTERM the API
turns readiness to 503 at once, keeps serving for `HTTP_DRAIN_DELAY` seconds and answers
`Connection: close` (keep-alive clients reconnect, to another replica), then stops accepting,
finishes what is in flight and closes.

The rollout is Kubernetes' `maxSurge: 1, maxUnavailable: 0` with two replicas, on loopback: a
`Balancer` (round-robin TCP, like kube-proxy) in front of two `users serve` processes started
as the stack launcher starts them; for each old replica a new one starts and, once ready, joins
the balancer; the old one gets SIGTERM and leaves the balancer `ENDPOINT_LAG` seconds later,
well inside its drain delay. Meanwhile keep-alive and fresh-connection clients GET a user
without pause.

Without the drain (`HTTP_DRAIN_DELAY=0`) the same rollout fails requests:
`test_without_a_drain_delay_the_same_rollout_fails_requests` runs it and expects them. Observed
(busy machine): the listener closes about 100 ms after SIGTERM, and the new connections the
balancer still routes there in the next second are reset: 44 of 1850 requests failed (41
`ReadError`, 3 `RemoteProtocolError: Server disconnected without sending a response`), where
the drained rollout answered all 2114 with a 200.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from typing import TYPE_CHECKING

import pytest
from rollout_kit import Balancer, Tally, loaded
from stack_kit import register

if TYPE_CHECKING:
    import httpx
    from devstack import Process, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.rabbitmq]

DRAIN_DELAY = 3.0  # seconds; production's default is 5 (HTTP_DRAIN_DELAY)
ENDPOINT_LAG = 1.0  # seconds from SIGTERM until the balancer stops routing to the replica
MAX_REQUESTS = 20_000  # a bound on the load, far above what the rollout's seconds allow
_names = itertools.count(1)


async def rolling_restart(stack: Stack, http: httpx.AsyncClient, drain_delay: str) -> Tally:
    """Roll two users API replicas over to two new ones under load; return the load's tally."""
    env = {"HTTP_DRAIN_DELAY": drain_delay}
    user = await register(http, stack.users_api_url)
    started: list[Process] = []

    async def spawn() -> Process:
        name = f"users-api-rollout-{next(_names)}"
        # Waiting for readiness blocks: in a thread, so this loop keeps the balancer forwarding.
        process = await asyncio.to_thread(stack.spawn, "users-api", name, env=env)
        started.append(process)
        return process

    try:
        old = [await spawn(), await spawn()]
        async with Balancer([p.api_port for p in old if p.api_port is not None]) as balancer:
            url = f"http://127.0.0.1:{balancer.port}/api/v1/users/{user['id']}"
            async with loaded(url, limit=MAX_REQUESTS) as load:
                await asyncio.sleep(1.0)  # traffic on both replicas, connections kept alive
                for replica in old:
                    new = await spawn()
                    assert new.api_port is not None
                    balancer.add(new.api_port)
                    replica.send_signal(signal.SIGTERM)
                    await asyncio.sleep(ENDPOINT_LAG)
                    if float(drain_delay) > ENDPOINT_LAG:
                        # Still serving, but not ready: readiness turned at SIGTERM.
                        assert await asyncio.to_thread(replica.readyz) == 503
                    assert replica.api_port is not None
                    balancer.remove(replica.api_port)
                    assert await asyncio.to_thread(replica.wait) == 0, replica.log_text()[-3000:]
                await asyncio.sleep(1.0)  # the new replicas carry the load alone
            tally = load.result()
        assert balancer.connections[old[0].api_port or 0] > 0  # the load did reach the old ones
    finally:
        for process in started:
            if process.name in stack.processes:
                await asyncio.to_thread(stack.discard, process.name)
    return tally


async def test_a_rolling_restart_under_load_fails_no_request(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """Zero connection errors, zero 5xx: every request of the load is answered, with a 200."""
    tally = await rolling_restart(stack, http, str(DRAIN_DELAY))
    print(f"with a drain delay of {DRAIN_DELAY} s: {tally.summary()}")  # noqa: T201  (with -s)

    assert tally.errors == []
    assert tally.server_errors == 0
    assert tally.sent < tally.limit  # the rollout ended the load, not the bound
    assert tally.answered == tally.sent
    assert dict(tally.statuses) == {200: tally.sent}


async def test_without_a_drain_delay_the_same_rollout_fails_requests(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    """The test above can fail: with HTTP_DRAIN_DELAY=0 the balancer's lag costs requests."""
    tally = await rolling_restart(stack, http, "0")
    print(f"without a drain delay: {tally.summary()}")  # noqa: T201  (the observed failure, with -s)

    assert tally.errors, f"no request failed without a drain delay: {tally.summary()}"
    assert tally.answered < tally.sent
