"""Helpers of the cross-service tests: users, mails, events and metrics of the stack."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from prometheus_client.parser import text_string_to_metric_families

from svcinfra.testing import until

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import aio_pika
    import httpx
    from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
    from devstack import Stack

WAIT = 30.0  # seconds any one thing may take to happen before a test fails
T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    what: str,
    *,
    timeout: float = WAIT,
) -> T:
    """Call `probe` until `accept` holds for its answer; return that answer.

    Raises:
        AssertionError: not within `timeout` seconds (naming `what` and the last answer).
    """
    latest: list[T] = []

    async def poll() -> T:
        while True:
            latest[:] = [await probe()]
            if accept(latest[0]):
                return latest[0]
            await asyncio.sleep(0.05)

    task = asyncio.create_task(poll())
    try:
        await until(task.done, timeout=timeout, interval=0.01)
    except AssertionError:
        raise AssertionError(f"{what} not within {timeout} s; last: {latest}") from None
    finally:
        task.cancel()
    return task.result()


@dataclass
class Listener:
    """An exclusive queue bound to an exchange, collecting what is published there."""

    queue: AbstractQueue
    received: list[AbstractIncomingMessage]

    async def drain(self) -> list[AbstractIncomingMessage]:
        """Take every message waiting in the queue; return all received so far."""
        while (message := await self.queue.get(fail=False, no_ack=True)) is not None:
            self.received.append(message)
        return self.received

    def about(self, needle: str) -> list[AbstractIncomingMessage]:
        """The messages received so far whose body mentions `needle`."""
        return [m for m in self.received if needle in m.body.decode()]


async def listen(
    channel: aio_pika.abc.AbstractChannel, exchange: str, routing_key: str = "#"
) -> Listener:
    """Bind a fresh exclusive queue to `exchange` (deleted with the channel's connection)."""
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    await queue.bind(exchange, routing_key=routing_key)
    return Listener(queue, [])


def new_user() -> dict[str, str]:
    """A registration no other test uses."""
    tag = secrets.token_hex(5)
    return {
        "email": f"e2e-{tag}@example.com",
        "username": f"e2e_{tag}",
        "display_name": f"E2E {tag}",
    }


async def register(
    http: httpx.AsyncClient, api_url: str, registration: dict[str, str] | None = None
) -> dict[str, object]:
    """POST a new user; return the created representation (fails the test unless 201)."""
    response = await http.post(f"{api_url}/api/v1/users", json=registration or new_user())
    assert response.status_code == 201, response.text
    body = response.json()
    assert isinstance(body, dict)
    return body


async def mails_to(http: httpx.AsyncClient, stack: Stack, email: str) -> list[dict[str, object]]:
    """fake-mail's record of the messages it sent to `email`."""
    response = await http.get(
        f"{stack.fake_mail_url}/v1/messages", params={"to": email}, headers=stack.fake_mail_headers
    )
    response.raise_for_status()
    messages = response.json()["messages"]
    assert isinstance(messages, list)
    return messages


async def metrics(http: httpx.AsyncClient, tech_url: str) -> dict[str, float]:
    """Every sample of a process's `/metrics`, as `name{label="value",...}` -> value."""
    response = await http.get(f"{tech_url}/metrics")
    response.raise_for_status()
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def total(samples: dict[str, float], name: str, **labels: str) -> float:
    """The sum of the samples called `name` that carry every one of `labels`."""
    wanted = [f'{k}="{v}"' for k, v in labels.items()]
    return sum(
        value
        for key, value in samples.items()
        if key.startswith(name + "{") and all(w in key for w in wanted)
    )


def payload(message: AbstractIncomingMessage) -> dict[str, object]:
    """The JSON body of a message."""
    body = json.loads(message.body)
    assert isinstance(body, dict)
    return body
