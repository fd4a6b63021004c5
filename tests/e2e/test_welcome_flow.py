"""Register -> user.registered.v1 -> welcome email at fake-mail -> notification.sent.v1, end to end.

Every process is the real service started by the stack launcher; the tests only talk HTTP and
AMQP to them, as a client and another service would. "Exactly one email" is read from
fake-mail's record once the consumer has finished with the event (its notification.sent.v1 is
out, or its ack counter moved), so a second send would have been recorded by then.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus

import aio_pika
import pytest
from stack_kit import eventually, listen, mails_to, metrics, new_user, payload, register, total

if TYPE_CHECKING:
    import httpx
    from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
    from devstack import Stack
    from stack_kit import Listener

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.rabbitmq]

QUEUE = "notifications.user-registered"
DLQ = "notifications.user-registered.dlq"


async def one_mail(http: httpx.AsyncClient, stack: Stack, email: str) -> list[dict[str, object]]:
    """Wait until fake-mail recorded a message to `email`; return its record for `email`."""
    return await eventually(
        lambda: mails_to(http, stack, email), bool, f"an email to {email} at fake-mail"
    )


async def sent_event(events: Listener, user_id: str) -> AbstractIncomingMessage:
    """Wait for the notification.sent.v1 about `user_id`."""

    async def about_user() -> list[AbstractIncomingMessage]:
        await events.drain()
        return events.about(user_id)

    (message, *_) = await eventually(about_user, bool, f"notification.sent.v1 for {user_id}")
    return message


async def acked(http: httpx.AsyncClient, stack: Stack) -> float:
    """Deliveries of the work queue the consumer acked so far (processed or duplicate)."""
    samples = await metrics(http, stack.process("notifications-consumer").tech_url)
    return total(samples, "svcinfra_amqp_messages_acked_total", queue=QUEUE)


@pytest.mark.usefixtures("faults")
async def test_registration_sends_one_welcome_email_and_notification_sent(
    stack: Stack, http: httpx.AsyncClient, amqp: AbstractChannel, sent_events: Listener
) -> None:
    """Register -> user.registered.v1 -> exactly one email -> notification.sent.v1, one chain."""
    registered_events = await listen(amqp, "users.events", "user.registered.v1")
    user = await register(http, stack.users_api_url)

    mails = await one_mail(http, stack, str(user["email"]))
    sent = await sent_event(sent_events, str(user["id"]))
    await registered_events.drain()  # published before the email could be sent
    (registered, *others) = registered_events.about(str(user["id"]))

    assert others == []
    assert registered.type == "user.registered.v1"
    assert payload(registered) == {
        **payload(registered),
        **{k: user[k] for k in ("email", "username", "display_name")},
        "user_id": user["id"],
    }
    assert sent.type == "notification.sent.v1"
    assert sent.message_id
    assert sent.correlation_id == registered.message_id  # one chain (MQ-6)
    body = payload(sent)
    assert (body["user_id"], body["email"], body["kind"]) == (user["id"], user["email"], "welcome")
    assert len(await mails_to(http, stack, str(user["email"]))) == len(mails) == 1
    assert mails[0]["id"] == body["provider_message_id"]
    assert str(registered.message_id) in str(mails[0]["idempotency_key"])


@pytest.mark.usefixtures("faults")
async def test_duplicate_delivery_sends_no_second_email(
    stack: Stack, http: httpx.AsyncClient, amqp: AbstractChannel, sent_events: Listener
) -> None:
    """user.registered.v1 published again with the same message_id changes nothing."""
    registered = await listen(amqp, "users.events", "user.registered.v1")
    user = await register(http, stack.users_api_url)
    await one_mail(http, stack, str(user["email"]))
    await sent_event(sent_events, str(user["id"]))

    async def original() -> list[AbstractIncomingMessage]:
        await registered.drain()
        return registered.about(str(user["id"]))

    (event, *_) = await eventually(original, bool, "the original user.registered.v1")
    before = await acked(http, stack)

    exchange = await amqp.get_exchange("users.events", ensure=False)
    await exchange.publish(
        aio_pika.Message(
            event.body,
            message_id=event.message_id,
            correlation_id=event.correlation_id,
            type=event.type,
            content_type=event.content_type,
            headers=dict(event.headers),
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        ),
        routing_key="user.registered.v1",
    )
    await eventually(lambda: acked(http, stack), lambda n: n > before, "the duplicate's ack")

    assert len(await mails_to(http, stack, str(user["email"]))) == 1
    await sent_events.drain()
    assert len(sent_events.about(str(user["id"]))) == 1


async def test_rate_limits_and_outages_of_the_mail_api_still_send_one_email(
    stack: Stack, http: httpx.AsyncClient, sent_events: Listener, faults: None
) -> None:
    """429 then 503s from fake-mail: the email goes out once, after retries."""
    del faults  # fake-mail is reset before and after
    burst = [{"status": 429, "retry_after": 1}, {"status": 503}, {"status": 503}]
    response = await http.put(
        f"{stack.fake_mail_url}/v1/faults", json={"script": burst}, headers=stack.fake_mail_headers
    )
    response.raise_for_status()
    before = await injected(http, stack)

    user = await register(http, stack.users_api_url)
    await one_mail(http, stack, str(user["email"]))
    await sent_event(sent_events, str(user["id"]))

    after = await injected(http, stack)
    # Every scripted failure was answered to a send of this email before it went through.
    assert after["rate_limit"] - before["rate_limit"] == 1
    assert after["error"] - before["error"] == 2
    assert len(await mails_to(http, stack, str(user["email"]))) == 1


async def injected(http: httpx.AsyncClient, stack: Stack) -> dict[str, float]:
    """Faults fake-mail injected so far, by kind."""
    samples = await metrics(http, stack.process("fake-mail").tech_url)
    name = "fake_mail_faults_injected_total"
    return {kind: total(samples, name, kind=kind) for kind in ("rate_limit", "error")}


async def test_rejected_address_goes_to_the_dlq_with_its_reason(
    stack: Stack, http: httpx.AsyncClient, amqp: AbstractChannel, faults: None
) -> None:
    """An address the mail API rejects (422) is not retried: the event lands in the DLQ."""
    del faults
    registration = new_user()
    user_email = registration["email"]
    response = await http.put(
        f"{stack.fake_mail_url}/v1/faults",
        json={"reject": [user_email]},
        headers=stack.fake_mail_headers,
    )
    response.raise_for_status()
    user_id = str((await register(http, stack.users_api_url, registration))["id"])
    dlq = await amqp.get_queue(DLQ, ensure=False)

    async def dead_letter() -> AbstractIncomingMessage | None:
        message = await dlq.get(fail=False, no_ack=False)
        if message is None:
            return None
        if user_id in message.body.decode():
            await message.ack()
            return message
        await message.nack(requeue=True)  # another run's or test's: leave it
        return None

    message = await eventually(dead_letter, lambda m: m is not None, "the event in the DLQ")
    assert message is not None
    headers = dict(message.headers)
    assert headers["error-class"] == "permanent"
    assert "reject" in str(headers["error-message"]).lower()
    assert user_email not in str(headers["error-message"])  # no personal data in the reason
    assert json.loads(message.body)["user_id"] == user_id
    assert await mails_to(http, stack, user_email) == []


@pytest.mark.usefixtures("faults")
async def test_no_generated_secret_in_any_log(
    stack: Stack, http: httpx.AsyncClient, sent_events: Listener
) -> None:
    """After a full flow, no process log holds a password or the mail API key in any form."""
    user = await register(http, stack.users_api_url)
    await sent_event(sent_events, str(user["id"]))

    assert stack.log_dir is not None
    logs = {path.name: path.read_text() for path in stack.log_dir.glob("*.log")}
    assert {"users-api.log", "notifications-consumer.log", "fake-mail.log"} <= set(logs)
    assert any('"configuration loaded"' in text for text in logs.values())
    forms = {f for s in stack.secret_values() for f in (s, quote(s, safe=""), quote_plus(s))}
    leaks = {name for name, text in logs.items() for form in forms if form in text}
    assert not leaks, f"a generated secret appears in {sorted(leaks)}"
