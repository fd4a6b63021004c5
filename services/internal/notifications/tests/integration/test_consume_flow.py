"""The consumer end to end in-process: event -> one email -> one row -> notification.sent.v1.

Real PostgreSQL and RabbitMQ; the mail API is a scripted `UpstreamServer` on loopback.
"""

from __future__ import annotations

import json

import notifkit
import pytest
from notifications.domain.service import notification_id

from svcinfra.testing import metric_value

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


async def test_a_registration_sends_one_email_records_it_and_announces_it(start) -> None:
    """One event: one mail request with the derived key and the bearer key, one delivery row,
    one inbox row, and notification.sent.v1 correlated with the event (PG-12, MQ-3, MQ-6)."""
    async with start() as svc:
        payload = notifkit.registered()
        mid = await svc.broker.publish(payload)

        [sent] = await svc.broker.wait_for(svc.broker.sent_queue)

        [request] = svc.mail.requests
        assert request.method == "POST"
        assert request.path == "/v1/messages"
        assert request.headers["idempotency-key"] == f"welcome-{mid}"
        assert request.headers["authorization"] == f"Bearer {svc.api_key}"
        body = request.json()
        assert body["to"] == payload["email"]
        assert body["tags"] == {"kind": "welcome"}
        assert "Ada Lovelace" in body["subject"]

        [delivery] = await svc.deliveries()
        assert delivery.source_message_id == mid
        assert delivery.provider_message_id == "11111111-1111-4111-8111-111111111111"
        assert str(delivery.user_id) == payload["user_id"]
        assert await svc.count("svcinfra_inbox") == 1

        assert sent.correlation_id == mid
        assert sent.type == notifkit.SENT
        event = json.loads(sent.body)
        assert event == {
            "notification_id": str(notification_id(mid)),
            "user_id": payload["user_id"],
            "email": payload["email"],
            "kind": "welcome",
            "provider_message_id": "11111111-1111-4111-8111-111111111111",
            "sent_at": "2026-11-26T08:00:01Z",
        }


async def test_a_duplicate_delivery_sends_no_second_email(start) -> None:
    """The same message twice (the producer's redelivery): one mail call, one row (MQ-3)."""
    async with start() as svc:
        payload = notifkit.registered()
        mid = await svc.broker.publish(payload)
        await svc.broker.wait_for(svc.broker.sent_queue)
        await svc.broker.publish(payload, message_id=mid)

        await notifkit.until(
            lambda: (
                metric_value(
                    "svcinfra_amqp_messages_acked_total",
                    message=notifkit.REGISTERED,
                    queue=svc.broker.queue,
                    outcome="duplicate",
                )
                == 1
            )
        )
        assert len(svc.mail.requests) == 1
        assert len(await svc.deliveries()) == 1
        assert await svc.count("svcinfra_outbox") == 1
        assert await svc.broker.take(svc.broker.sent_queue) == []
