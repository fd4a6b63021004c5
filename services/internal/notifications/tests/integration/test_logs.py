"""What the service logs: no mail API key and no address (CF-3, EX-5); the message_id on every
line about a message (MQ-11)."""

from __future__ import annotations

import notifkit
import pytest

from svcinfra.httpclient.testing import Reply
from svcinfra.testing import capture_logs

pytestmark = [pytest.mark.postgres, pytest.mark.rabbitmq]

ADDRESSES = ("ada@example.com", "bob@example.org")


async def _send_one_and_reject_one(svc) -> tuple[str, str]:
    svc.mail.script(
        notifkit.accepted("44444444-4444-4444-8444-444444444444"),
        Reply.json(
            {"error": "address_rejected", "detail": f"no such user: {ADDRESSES[1]}"}, status=422
        ),
    )
    sent_id = await svc.broker.publish(notifkit.registered(email=ADDRESSES[0]))
    await svc.broker.wait_for(svc.broker.sent_queue)
    rejected_id = await svc.broker.publish(notifkit.registered(email=ADDRESSES[1]))
    await svc.broker.wait_for(svc.broker.dlq)
    return sent_id, rejected_id


async def test_the_api_key_and_the_addresses_never_reach_the_logs(start) -> None:
    """A sent email and a rejected one at INFO (the default level): neither the key nor an
    address appears in any line; nothing is masked here, the capture knows no secret."""
    with capture_logs(service="notifications", level="INFO") as logs:
        async with start() as svc:
            sent_id, rejected_id = await _send_one_and_reject_one(svc)

    assert logs.lines, "the service logged nothing: the capture is broken"
    assert svc.api_key not in logs.text
    for address in ADDRESSES:
        assert address not in logs.text
    accepted = logs.find("welcome email accepted")
    assert [entry["message_id"] for entry in accepted] == [sent_id]
    [dead] = logs.find("amqp message dead-lettered")
    assert dead["message_id"] == rejected_id
    assert "address_rejected" in dead["error_message"]


async def test_debug_logs_with_bodies_keep_the_key_and_addresses_out_of_our_lines(start) -> None:
    """At DEBUG with the mail API's bodies logged, the key appears nowhere, and no line of the
    service or svcinfra names an address (the AMQP driver's own frame dumps at DEBUG do: a
    known issue of the driver's logger, reported, not hidden)."""
    with capture_logs(service="notifications", level="DEBUG") as logs:
        async with start(NOTIFICATIONS_MAIL_API_LOG_BODIES="true") as svc:
            await _send_one_and_reject_one(svc)

    assert svc.api_key not in logs.text
    ours = [e for e in logs.entries if not str(e.get("logger", "")).startswith("aiormq")]
    assert any(e.get("event") == "external_api_call" for e in ours)
    for entry in ours:
        for address in ADDRESSES:
            assert address not in str(entry), entry
