"""Which publish a channel close blames: only the one the broker's reason names (issue 16)."""

from __future__ import annotations

import aiormq.exceptions
import pytest

from svcinfra.messaging.publisher._outcome import BlockedTooLongError, blamed, reason_of

NOT_FOUND = aiormq.exceptions.ChannelNotFoundEntity(
    "NOT_FOUND - no exchange 'billing.events' in vhost '/'"
)
REFUSED = aiormq.exceptions.ChannelAccessRefused(
    "ACCESS_REFUSED - access to exchange 'billing.events' in vhost '/' refused for user 'users'"
)
TOO_LARGE = aiormq.exceptions.ChannelPreconditionFailed(
    "PRECONDITION_FAILED - message size 134217729 is larger than configured max size 134217728"
)


@pytest.mark.parametrize("exc", [NOT_FOUND, REFUSED])
def test_a_missing_or_forbidden_exchange_blames_its_publishes_only(
    exc: aiormq.exceptions.ChannelClosed,
) -> None:
    assert blamed(exc, exchange="billing.events", body_size=200)
    assert not blamed(exc, exchange="users.events", body_size=200)
    assert not blamed(exc, exchange="billing.events.v2", body_size=200)


def test_an_oversized_message_blames_the_publish_of_that_size() -> None:
    assert blamed(TOO_LARGE, exchange="users.events", body_size=134_217_729)
    assert not blamed(TOO_LARGE, exchange="users.events", body_size=200)


def test_a_close_whose_reason_names_no_publish_blames_none() -> None:
    """An operator's close or an unknown reason: every publish in flight is sent again."""
    forced = aiormq.exceptions.ChannelClosed(320, "CONNECTION_FORCED - closed via management")
    assert not blamed(forced, exchange="users.events", body_size=200)
    assert reason_of(forced) == "channel_closed"


def test_a_publish_that_waited_out_a_blocked_broker_has_its_own_reason() -> None:
    assert reason_of(BlockedTooLongError()) == "blocked"
    assert reason_of(TimeoutError()) == "confirm_timeout"


def test_a_reason_given_with_its_reply_code_is_read_too() -> None:
    """aiormq passes (code, text) for reply codes it has no exception class for."""
    closed = aiormq.exceptions.ChannelNotFoundEntity(
        404, "NOT_FOUND - no exchange 'a' in vhost '/'"
    )
    assert blamed(closed, exchange="a", body_size=1)
