"""`make demo`: register a user and show the welcome email arriving at fake-mail.

Against the stack of a running `make run`, or one it starts (and stops) itself. It listens on
`notifications.events` before registering, so it also shows the `notification.sent.v1` event
that the notifications service publishes once the email is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import sys
import time
from typing import TYPE_CHECKING

import aio_pika
import httpx

if TYPE_CHECKING:
    from ._stack import Stack

TIMEOUT = 30.0


def _say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def _show(title: str, document: object) -> None:
    _say(f"\n{title}\n" + json.dumps(document, indent=2, sort_keys=True, default=str))


async def run_demo(stack: Stack) -> None:
    """Register a user, wait for its email at fake-mail and its notification.sent.v1 event."""
    tag = secrets.token_hex(4)
    user = {
        "email": f"demo-{tag}@example.com",
        "username": f"demo_{tag}",
        "display_name": f"Demo {tag}",
    }
    connection = await aio_pika.connect(stack.amqp_admin_url, timeout=10)
    async with connection, httpx.AsyncClient(timeout=10) as http:
        channel = await connection.channel()
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind("notifications.events", routing_key="#")

        _say(f"POST {stack.users_api_url}/api/v1/users {json.dumps(user)}")
        response = await http.post(f"{stack.users_api_url}/api/v1/users", json=user)
        _show(f"-> {response.status_code}", response.json())
        response.raise_for_status()
        user_id = response.json().get("id")

        started = time.monotonic()
        mail = await _wait_for_mail(http, stack, user["email"])
        waited = time.monotonic() - started
        _show(f"fake-mail's record for {user['email']} (after {waited:.2f} s):", mail)

        event = await _wait_for_event(queue, user_id=user_id, email=user["email"])
        _show("notification.sent.v1 on exchange notifications.events:", event)


async def _wait_for_mail(http: httpx.AsyncClient, stack: Stack, email: str) -> object:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        response = await http.get(
            f"{stack.fake_mail_url}/v1/messages",
            params={"to": email},
            headers=stack.fake_mail_headers,
        )
        response.raise_for_status()
        messages = response.json()["messages"]
        if messages:
            return messages if len(messages) > 1 else messages[0]
        await asyncio.sleep(0.1)
    raise SystemExit(f"no email to {email} within {TIMEOUT:.0f} s; see the logs in .run/logs/")


async def _wait_for_event(
    queue: aio_pika.abc.AbstractQueue,
    *,
    user_id: object,
    email: str,
) -> dict[str, object]:
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        message = await queue.get(fail=False, no_ack=True)
        if message is None:
            await asyncio.sleep(0.1)
            continue
        with contextlib.suppress(ValueError):
            body = json.loads(message.body)
            if message.type == "notification.sent.v1" and str(user_id) in json.dumps(body):
                return {
                    "routing_key": message.routing_key,
                    "type": message.type,
                    "message_id": message.message_id,
                    "correlation_id": message.correlation_id,
                    "headers": dict(message.headers),
                    "payload": body,
                }
    raise SystemExit(f"no notification.sent.v1 event for {email} within {TIMEOUT:.0f} s")
