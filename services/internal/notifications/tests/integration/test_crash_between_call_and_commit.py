"""PG-12 under a fault: the database is lost between the mail call and the recording commit.

The email was accepted, but the short recording transaction cannot commit: the event is retried,
the mail call is repeated with the same idempotency key and body, the mail API (scripted the way
the real one answers a repeated key) replays its first answer, and exactly one delivery is
recorded and announced. No transaction was open during the call, so nothing waited on it.
"""

from __future__ import annotations

import dataclasses

import notifkit
import pytest

from svcinfra.testing import FaultProxy

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

PROVIDER_ID = "33333333-3333-4333-8333-333333333333"


async def test_a_lost_database_after_the_call_sends_no_second_email(start) -> None:
    """Postgres connections killed after the accept: redelivery replays, one row, one event."""
    async with (
        FaultProxy("127.0.0.1", 5432) as proxy,
        start(pg_port=proxy.port, NOTIFICATIONS_MAIL_API_READ_TIMEOUT="2") as svc,
    ):
        # The first answer is slow enough to cut the database while the call is in flight (and
        # well within the read timeout: the call itself succeeds).
        svc.mail.script(
            dataclasses.replace(notifkit.accepted(PROVIDER_ID), delay=0.5),
            notifkit.accepted(PROVIDER_ID, status=200, **{"Idempotent-Replayed": "true"}),
        )
        mid = await svc.broker.publish(notifkit.registered())

        await notifkit.until(lambda: len(svc.mail.requests) == 1)
        await proxy.refuse()
        proxy.reset_all()  # every pooled connection of the service dies
        await notifkit.until(
            lambda: (
                notifkit.counted("svcinfra_amqp_messages_retried_total", queue=svc.broker.queue)
                >= 1
            )
        )
        assert await svc.count("deliveries") == 0
        await proxy.accept()

        [sent] = await svc.broker.wait_for(svc.broker.sent_queue)

        first, second = svc.mail.requests
        assert first.headers["idempotency-key"] == second.headers["idempotency-key"]
        assert first.headers["idempotency-key"] == f"welcome-{mid}"
        assert first.body == second.body
        [delivery] = await svc.deliveries()
        assert delivery.provider_message_id == PROVIDER_ID
        assert sent.correlation_id == mid
        assert await svc.broker.take(svc.broker.sent_queue) == []
        assert await svc.count("svcinfra_outbox") == 1
