"""The reference services started together by the stack launcher, as `make run` starts them.

One stack per test session, on names of its own (databases, roles, vhost and broker users end
with the run id) and free ports, so it never meets a running `make run` or another test run.
Tests run serially against it: fake-mail's faults are global, so a test that sets them resets
them when it ends.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import aio_pika
import httpx
import pytest

# The launcher lives in tools/ and these helpers beside this file; neither is installed.
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parents[1] / "tools"), str(HERE)]

from devstack import Ports, Stack  # noqa: E402
from stack_kit import Listener, listen  # noqa: E402

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator


# Short retry tiers, so a temporary failure comes back in a second instead of the contract's
# 1 s / 5 s / 30 s; the tests never wait for a tier on purpose.
CONSUMER_ENV = {"CONSUMER_RETRY_BACKOFF": "200ms,500ms,1s"}


@pytest.fixture(scope="session")
def stack(
    run_id: str,
    postgres_server: str,
    redis_server: str,
    amqp_server: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    """The five processes, ready; stopped, and their databases and vhost dropped, at the end."""
    del postgres_server, redis_server, amqp_server  # they fail the session when a server is down
    stack = Stack(
        run_id=run_id,
        ports=Ports.free(),
        log_dir=tmp_path_factory.mktemp("stack-logs"),
        env={"notifications-consumer": CONSUMER_ENV},
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with a bounded timeout."""
    async with httpx.AsyncClient(timeout=10) as client:
        yield client


@pytest.fixture
async def amqp(stack: Stack) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """A channel of the admin user on the stack's vhost, closed after the test."""
    connection = await aio_pika.connect(stack.amqp_admin_url, timeout=10)
    async with connection:
        yield await connection.channel()


@pytest.fixture
async def sent_events(amqp: aio_pika.abc.AbstractChannel) -> Listener:
    """What the notifications service publishes on `notifications.events`."""
    return await listen(amqp, "notifications.events")


@pytest.fixture
async def faults(stack: Stack, http: httpx.AsyncClient) -> AsyncIterator[None]:
    """fake-mail with no fault at the start and the end of the test."""
    await http.delete(f"{stack.fake_mail_url}/v1/faults", headers=stack.fake_mail_headers)
    yield
    await http.delete(f"{stack.fake_mail_url}/v1/faults", headers=stack.fake_mail_headers)
