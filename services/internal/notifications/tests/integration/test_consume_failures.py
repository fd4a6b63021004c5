"""Failure paths of the consumer: temporary mail failures retried, permanent ones dead-lettered
with their reason, malformed events dead-lettered unread (MQ-9, MQ-10, EX-3, EX-4)."""

from __future__ import annotations

import dataclasses

import notifkit
import pytest

from svcinfra.httpclient.testing import Reply

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

PROVIDER_ID = "22222222-2222-4222-8222-222222222222"


def _keys_and_bodies(svc) -> set[tuple[str, bytes]]:
    return {(r.headers["idempotency-key"], r.body) for r in svc.mail.requests}


@pytest.mark.parametrize(
    "burst",
    [
        [Reply.json({"error": "unavailable"}, status=503)] * 5,
        [Reply.json({"error": "rate_limited"}, status=429, **{"Retry-After": "0"})] * 4,
        [
            Reply.json({"error": "unavailable"}, status=502),
            Reply.json({"error": "rate_limited"}, status=429, **{"Retry-After": "0"}),
            Reply.json({"error": "unavailable"}, status=500),
            Reply.json({"error": "unavailable"}, status=503),
        ],
    ],
    ids=["503-burst", "429-burst", "mixed-5xx-429"],
)
async def test_a_burst_of_temporary_failures_is_retried_and_the_email_sent_once(
    start, burst
) -> None:
    """The adapter's in-call retries, then the retry tiers, ride out a burst: the email is
    accepted once, every attempt carrying the same key and body, and recorded once (MQ-9)."""
    async with start() as svc:
        svc.mail.script(*burst, notifkit.accepted(PROVIDER_ID))
        mid = await svc.broker.publish(notifkit.registered())

        [sent] = await svc.broker.wait_for(svc.broker.sent_queue)

        assert len(svc.mail.requests) == len(burst) + 1
        assert {key for key, _ in _keys_and_bodies(svc)} == {f"welcome-{mid}"}
        assert len(_keys_and_bodies(svc)) == 1  # the very same request every time
        [delivery] = await svc.deliveries()
        assert delivery.provider_message_id == PROVIDER_ID
        assert sent.correlation_id == mid
        assert await svc.broker.take(svc.broker.dlq) == []


async def test_a_key_still_in_flight_at_the_mail_api_is_a_temporary_failure(start) -> None:
    """409 idempotency_key_in_use: retried through a tier; the replay then records it once."""
    async with start() as svc:
        svc.mail.script(
            Reply.json({"error": "idempotency_key_in_use"}, status=409, **{"Retry-After": "0"}),
            notifkit.accepted(PROVIDER_ID, status=200, **{"Idempotent-Replayed": "true"}),
        )
        mid = await svc.broker.publish(notifkit.registered())

        await svc.broker.wait_for(svc.broker.sent_queue)

        assert len(svc.mail.requests) == 2
        [delivery] = await svc.deliveries()
        assert delivery.source_message_id == mid
        assert delivery.provider_message_id == PROVIDER_ID


async def test_a_rejected_address_goes_to_the_dlq_with_its_reason(start) -> None:
    """422 address_rejected: no retry, the DLQ at once, the reason (without the address) in the
    headers, nothing recorded (MQ-9, MQ-10, EX-5)."""
    async with start() as svc:
        svc.mail.script(
            Reply.json(
                {"error": "address_rejected", "detail": "mailbox ada@example.com does not exist"},
                status=422,
            )
        )
        mid = await svc.broker.publish(notifkit.registered())

        [dead] = await svc.broker.wait_for(svc.broker.dlq)

        assert dead.message_id == mid
        headers = dead.headers
        assert headers["error-class"] == "permanent"
        assert headers["error-type"] == "Reject"
        reason = str(headers["error-message"])
        assert "address_rejected" in reason
        assert "mailbox <address> does not exist" in reason
        assert "ada@example.com" not in reason
        assert headers["attempts"] == 1
        assert len(svc.mail.requests) == 1
        assert await svc.deliveries() == []
        assert await svc.count("svcinfra_inbox") == 0
        assert await svc.count("svcinfra_outbox") == 0


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        (Reply.json({"error": "unauthorized"}, status=401), "401"),
        (Reply.json({"error": "invalid_request", "detail": "to"}, status=400), "invalid_request"),
        (Reply.json({"error": "idempotency_key_reused"}, status=409), "idempotency_key_reused"),
        (Reply(status=202, body=b"not json"), "malformed body"),
    ],
    ids=["unauthorized", "invalid-request", "key-reused", "malformed-acceptance"],
)
async def test_a_refused_request_goes_to_the_dlq_at_once(start, reply, code) -> None:
    """Permanent refusals are not retried: one request, the DLQ with the cause named (EX-4)."""
    async with start() as svc:
        svc.mail.script(reply)
        await svc.broker.publish(notifkit.registered())

        [dead] = await svc.broker.wait_for(svc.broker.dlq)

        assert dead.headers["error-class"] == "permanent"
        assert code in str(dead.headers["error-message"])
        assert len(svc.mail.requests) == 1
        assert await svc.deliveries() == []


async def test_a_mail_api_that_stays_down_exhausts_the_tiers_into_the_dlq(start) -> None:
    """503 on every call: 4 deliveries through the 3 tiers, then the DLQ with
    attempts-exhausted; nothing recorded, nothing announced (MQ-9, MQ-10)."""
    async with start() as svc:
        svc.mail.default = Reply.json({"error": "unavailable"}, status=503)
        await svc.broker.publish(notifkit.registered())

        [dead] = await svc.broker.wait_for(svc.broker.dlq)

        assert dead.headers["error-type"] == "attempts-exhausted"
        assert dead.headers["attempts"] == 4
        assert "503" in str(dead.headers["error-message"])
        retries = svc.config.mail_api.retry_attempts
        assert len(svc.mail.requests) == 4 * retries
        assert await svc.deliveries() == []
        assert await svc.broker.take(svc.broker.sent_queue) == []


async def test_an_open_circuit_defers_the_email_until_it_closes_without_spending_attempts(
    start,
) -> None:
    """Issue 17: 503s open the mail client's breaker (2 in a row, open for 2 s); the calls it
    then refuses (`CircuitOpenError`, nothing sent) are deferred by the consumer, not counted,
    so the 4 attempts the queue allows outlast the open period: once the probe goes through,
    the email is sent once and recorded (MQ-9, EX-3). Counted, the 100-300 ms tiers would have
    spent them all while the circuit was open, and the email would be in the DLQ."""
    async with start(
        NOTIFICATIONS_MAIL_API_BREAKER_THRESHOLD="2",
        NOTIFICATIONS_MAIL_API_BREAKER_RESET_TIMEOUT="2",
    ) as svc:
        failure = Reply.json({"error": "unavailable"}, status=503)
        svc.mail.script(failure, failure, notifkit.accepted(PROVIDER_ID))
        labels = {"queue": svc.broker.queue, "reason": "CircuitOpenError"}
        deferred = notifkit.counted("svcinfra_amqp_messages_deferred_total", **labels)
        mid = await svc.broker.publish(notifkit.registered())

        [sent] = await svc.broker.wait_for(svc.broker.sent_queue)

        assert sent.correlation_id == mid
        assert len(svc.mail.requests) == 3  # two 503s, then the probe: accepted
        [delivery] = await svc.deliveries()
        assert delivery.provider_message_id == PROVIDER_ID
        assert notifkit.counted("svcinfra_amqp_messages_deferred_total", **labels) > deferred
        assert await svc.broker.take(svc.broker.dlq) == []


async def test_a_mail_api_too_slow_for_its_timeout_is_a_temporary_failure(start) -> None:
    """A reply slower than the read timeout fails the call (EX-2); the next tier's attempt,
    answered in time, sends the email once."""
    async with start() as svc:
        slow = dataclasses.replace(notifkit.accepted(PROVIDER_ID), delay=5.0)
        svc.mail.script(
            *[slow] * svc.config.mail_api.retry_attempts, notifkit.accepted(PROVIDER_ID)
        )
        await svc.broker.publish(notifkit.registered())

        await svc.broker.wait_for(svc.broker.sent_queue)

        [delivery] = await svc.deliveries()
        assert delivery.provider_message_id == PROVIDER_ID
        assert len(_keys_and_bodies(svc)) == 1


async def test_a_connection_dropped_after_the_accept_is_retried_and_replayed(start) -> None:
    """The mail API accepts, then the connection dies before the answer ("crash after
    accept"): the adapter retries with the same key and records the replay's id once."""
    async with start() as svc:
        svc.mail.script(
            Reply(reset=True),
            notifkit.accepted(PROVIDER_ID, status=200, **{"Idempotent-Replayed": "true"}),
        )
        await svc.broker.publish(notifkit.registered())

        await svc.broker.wait_for(svc.broker.sent_queue)

        assert len(svc.mail.requests) == 2
        assert len(_keys_and_bodies(svc)) == 1
        [delivery] = await svc.deliveries()
        assert delivery.provider_message_id == PROVIDER_ID


@pytest.mark.parametrize(
    ("body", "options", "error_type"),
    [
        (b"{not json", {}, "invalid-json"),
        (notifkit.registered(email="not-an-address"), {}, "schema-violation"),
        (notifkit.registered(extra="field"), {}, "schema-violation"),
        ({"user_id": "8e1f6a49-56a4-4c53-9a43-2c6c5d5e1f00"}, {}, "schema-violation"),
        (notifkit.registered(), {"message_type": "user.registered.v2"}, "unknown-version"),
        (notifkit.registered(), {"content_type": "text/plain"}, "wrong-content-type"),
    ],
    ids=["not-json", "bad-email", "extra-field", "missing-fields", "v2", "content-type"],
)
async def test_a_malformed_event_goes_to_the_dlq_without_a_mail_call(
    start, body, options, error_type
) -> None:
    """Malformed events are dead-lettered unread, with the check that failed (MQ-2, MQ-10)."""
    async with start() as svc:
        await svc.broker.publish(body, **options)

        [dead] = await svc.broker.wait_for(svc.broker.dlq)

        assert dead.headers["error-type"] == error_type
        assert dead.headers["error-class"] == "permanent"
        assert svc.mail.requests == []
        assert await svc.deliveries() == []
