"""The crash between the mail call and the recording commit, against fake-mail's real keys.

No scripted replay: `fake-mail serve` runs as a process, with idempotency keys that expire as a
provider's do (FAKE_MAIL_IDEMPOTENCY_TTL). The database is cut while the call is in flight, so
the email is accepted and the recording transaction fails; the event comes back after a retry
tier. Within the key's lifetime the repeat is replayed (one email, one delivery); past it, the
intent written before the call (MQ-3) sends the event to the DLQ for reconciliation instead of
a second email (MQ-10).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import asyncpg
import notifkit
import pytest

from svcinfra.testing import FaultProxy

if TYPE_CHECKING:
    from notifkit import FakeMail

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]


async def _intents(dsn: str) -> list[asyncpg.Record]:
    con = await asyncpg.connect(dsn)
    try:
        return await con.fetch("SELECT source_message_id, state FROM mail_intents")
    finally:
        await con.close()


async def _crash_between_call_and_commit(svc, proxy: FaultProxy, mail: FakeMail) -> str:
    """Publish; cut the database while the (slow) call is in flight; restore it after a retry."""
    mid = await svc.broker.publish(notifkit.registered())
    await notifkit.until(lambda: _has_intent(svc.dsn))  # committed before the call
    await proxy.refuse()
    proxy.reset_all()  # every pooled connection of the service dies mid-handler
    await notifkit.until(
        lambda: (
            notifkit.counted("svcinfra_amqp_messages_retried_total", queue=svc.broker.queue) >= 1
        )
    )
    assert len(mail.messages()) == 1  # the email went out; its record did not commit
    assert await svc.count("deliveries") == 0
    await proxy.accept()
    return mid


async def _has_intent(dsn: str) -> bool:
    return len(await _intents(dsn)) == 1


def _env(mail: FakeMail, key_ttl: str) -> dict[str, str]:
    return {
        "NOTIFICATIONS_MAIL_API_BASE_URL": mail.api,
        "NOTIFICATIONS_MAIL_API_API_KEY": mail.key,
        "NOTIFICATIONS_MAIL_API_READ_TIMEOUT": "3",
        "NOTIFICATIONS_MAIL_API_DEADLINE": "5",
        "NOTIFICATIONS_MAIL_API_IDEMPOTENCY_TTL": key_ttl,
        # The redelivery comes 2 s after the failed record: past a 1 s key lifetime.
        "CONSUMER_RETRY_BACKOFF": "2s,2s,2s",
    }


async def test_a_redelivery_within_the_key_lifetime_is_replayed_once(start) -> None:
    """Default (24 h) keys: the repeat gets fake-mail's first answer; one email, one delivery."""
    with notifkit.fake_mail(FAKE_MAIL_LATENCY_MS="700") as mail:
        async with (
            FaultProxy("127.0.0.1", 5432) as proxy,
            start(pg_port=proxy.port, **_env(mail, "86400")) as svc,
        ):
            mid = await _crash_between_call_and_commit(svc, proxy, mail)
            [sent] = await svc.broker.wait_for(svc.broker.sent_queue)
            [message] = mail.messages()
            assert message["idempotency_key"] == f"welcome-{mid}"
            [delivery] = await svc.deliveries()
            assert delivery.provider_message_id == message["id"]
            assert sent.correlation_id == mid
            assert [tuple(row) for row in await _intents(svc.dsn)] == [(mid, "sent")]
            assert await svc.broker.take(svc.broker.dlq) == []


async def test_a_redelivery_past_the_key_lifetime_is_dead_lettered_not_sent_again(start) -> None:
    """1 s keys, a 2 s retry tier: the intent is older than the key; the DLQ, one email."""
    with notifkit.fake_mail(FAKE_MAIL_LATENCY_MS="700", FAKE_MAIL_IDEMPOTENCY_TTL="1") as mail:
        async with (
            FaultProxy("127.0.0.1", 5432) as proxy,
            start(pg_port=proxy.port, **_env(mail, "1")) as svc,
        ):
            mid = await _crash_between_call_and_commit(svc, proxy, mail)
            [dead] = await svc.broker.wait_for(svc.broker.dlq)
            headers = dead.headers or {}
            assert headers["error-type"] == "Reject"
            reason = str(headers["error-message"])
            assert "reconciliation needed" in reason
            assert "idempotency key lifetime (1s)" in reason
            [message] = mail.messages()  # exactly one email
            assert message["idempotency_key"] == f"welcome-{mid}"
            assert await svc.count("deliveries") == 0
            assert [tuple(row) for row in await _intents(svc.dsn)] == [(mid, "intended")]
            assert await svc.broker.take(svc.broker.sent_queue) == []
            # The counterfactual: fake-mail forgot the key, so a repeat would have sent again.
            with mail.client() as client:
                again = client.post(
                    "/v1/messages",
                    headers={"Idempotency-Key": str(message["idempotency_key"])},
                    json={k: message[k] for k in ("to", "subject", "text", "tags")},
                )
            assert again.status_code == 202
