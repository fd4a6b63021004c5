"""The consume path's cheap parts: `Acks` (a success's ack deferred to the end of the loop pass
and batched, never past a delivery still unsettled), `Incoming` (a delivery read straight from
aiormq, settled once), and the metric children cache."""

from __future__ import annotations

import asyncio

import aiormq.exceptions
import pytest
from aiormq.abc import DeliveredMessage
from pamqp import commands as spec
from pamqp.header import ContentHeader

from svcinfra.messaging.consumer import _telemetry as tm
from svcinfra.messaging.consumer._acks import Acks
from svcinfra.messaging.consumer._incoming import Incoming


class FakeChannel:
    """Records the acks sent, as aiormq's `basic_ack(tag, multiple=, wait=)` receives them."""

    def __init__(self, *, fail: bool = False) -> None:
        self.sent: list[tuple[int, bool, bool]] = []
        self.fail = fail

    async def basic_ack(self, tag: int, *, multiple: bool = False, wait: bool = True) -> None:
        if self.fail:
            raise aiormq.exceptions.ChannelInvalidStateError("closed")
        self.sent.append((tag, multiple, wait))

    async def basic_qos(self, *, prefetch_count: int) -> None:
        self.sent.append((-1, prefetch_count > 0, True))  # -1: the qos round trip


def acks_of(channel: FakeChannel) -> Acks:
    return Acks(channel)  # type: ignore[arg-type]


async def test_acks_of_one_pass_go_as_one_multiple_ack_without_waiting() -> None:
    channel = FakeChannel()
    acks = acks_of(channel)
    for tag in (1, 2, 3):
        acks.delivered(tag)
    for tag in (3, 1, 2):
        acks.ack(tag)
    assert channel.sent == []  # nothing is sent before the pass ends
    await acks.close()
    assert channel.sent == [(3, True, False)]
    assert not any(acks.unsettled(tag) for tag in (1, 2, 3))


async def test_close_confirms_the_acks_with_a_round_trip_after_them() -> None:
    """Given its prefetch, `close` re-sends `basic.qos` after the acks: the broker has them."""
    channel = FakeChannel()
    acks = Acks(channel, prefetch=10)  # type: ignore[arg-type]
    for tag in (1, 2):
        acks.delivered(tag)
        acks.ack(tag)
    await acks.close()
    assert channel.sent == [(2, True, False), (-1, True, True)]
    await Acks(channel, prefetch=10).close()  # type: ignore[arg-type]  # nothing to send
    assert channel.sent[-1] == (-1, True, True)


async def test_a_multiple_ack_never_goes_past_a_delivery_in_flight() -> None:
    channel = FakeChannel()
    acks = acks_of(channel)
    for tag in (1, 2, 3, 4, 5):
        acks.delivered(tag)
    for tag in (1, 2, 4, 5):  # 3 is still being handled
        acks.ack(tag)
    await acks.close()
    assert channel.sent == [(2, True, False), (4, False, False), (5, False, False)]
    assert acks.unsettled(3)
    acks.ack(3)
    await acks.close()
    assert channel.sent[-1] == (3, False, False)


async def test_one_ack_alone_is_not_multiple_and_settled_tags_do_not_hold_acks_back() -> None:
    channel = FakeChannel()
    acks = acks_of(channel)
    for tag in (1, 2, 3):
        acks.delivered(tag)
    acks.settled(1)  # republished to a retry tier, acked by the processor itself
    acks.ack(3)
    await acks.close()
    assert channel.sent == [(3, False, False)]  # 2 is in flight
    acks.settled(2)  # requeued
    assert not acks.unsettled(2)


async def test_acks_made_while_a_send_is_under_way_follow_it() -> None:
    channel = FakeChannel()
    acks = acks_of(channel)
    for tag in (1, 2):
        acks.delivered(tag)
    acks.ack(1)
    await asyncio.sleep(0)  # the send of 1 runs
    acks.ack(2)
    await acks.close()
    assert [tag for tag, _, _ in channel.sent] == [1, 2]


async def test_acks_on_a_closed_channel_are_dropped_for_the_broker_to_redeliver() -> None:
    acks = acks_of(FakeChannel(fail=True))
    acks.delivered(1)
    acks.ack(1)
    await acks.close()  # no exception: the message stays unacked at the broker


def test_a_message_consumed_without_acks_is_not_tracked() -> None:
    acks = acks_of(FakeChannel())
    acks.delivered(None)
    acks.settled(None)
    acks.ack(None)
    assert not acks.unsettled(None)


def test_metric_children_are_cached_and_are_the_registrys() -> None:
    child = tm.consumed("user.registered.v1", "unit.queue")
    assert child is tm.consumed("user.registered.v1", "unit.queue")
    assert child is tm.CONSUMED.labels("user.registered.v1", "unit.queue")


class StuckChannel(FakeChannel):
    """A channel whose writer is gone: a send never returns."""

    async def basic_ack(self, tag: int, *, multiple: bool = False, wait: bool = True) -> None:  # noqa: ARG002
        await asyncio.Event().wait()


async def test_close_is_bounded_and_cancel_drops_what_waits() -> None:
    acks = acks_of(StuckChannel())
    acks.delivered(1)
    acks.ack(1)
    await acks.close(timeout=0.05)  # returns: the broker requeues the unacked message
    acks.delivered(2)
    acks.ack(2)
    acks.cancel()
    await acks.close()  # nothing left to send


class SettleChannel:
    """Records acks and nacks; fails the first one when told to (a channel that closed)."""

    def __init__(self, *, fail_first: bool = False) -> None:
        self.sent: list[tuple[str, int, bool]] = []
        self.fail_first = fail_first

    async def basic_ack(self, tag: int) -> None:
        self._send("ack", tag, requeue=False)

    async def basic_nack(self, tag: int, *, requeue: bool) -> None:
        self._send("nack", tag, requeue=requeue)

    def _send(self, kind: str, tag: int, *, requeue: bool) -> None:
        if self.fail_first:
            self.fail_first = False
            raise aiormq.exceptions.ChannelInvalidStateError("closed")
        self.sent.append((kind, tag, requeue))


def delivered(channel: object, tag: int = 7) -> DeliveredMessage:
    properties = spec.Basic.Properties(
        content_type="application/json",
        headers={"message-version": 1},
        message_id="m-1",
        correlation_id="c-1",
        message_type="user.registered.v1",
        app_id="users",
    )
    return DeliveredMessage(
        delivery=spec.Basic.Deliver(
            consumer_tag="ctag", delivery_tag=tag, redelivered=True, exchange="ex", routing_key="rk"
        ),
        header=ContentHeader(body_size=2, properties=properties),
        body=b"{}",
        channel=channel,  # type: ignore[arg-type]
    )


def test_incoming_reads_the_delivery_and_its_properties() -> None:
    message = Incoming(delivered(SettleChannel()))
    assert (message.body, message.delivery_tag, message.exchange, message.routing_key) == (
        b"{}", 7, "ex", "rk",
    )  # fmt: skip
    assert message.redelivered is True
    assert message.headers == {"message-version": 1}
    assert (message.content_type, message.content_encoding) == ("application/json", None)
    assert (message.type, message.message_id, message.correlation_id, message.app_id) == (
        "user.registered.v1", "m-1", "c-1", "users",
    )  # fmt: skip
    assert message.timestamp is None
    assert not message.settled


async def test_incoming_is_settled_once_and_only_after_the_send_went() -> None:
    channel = SettleChannel(fail_first=True)
    message = Incoming(delivered(channel))
    with pytest.raises(aiormq.exceptions.ChannelInvalidStateError):
        await message.ack()
    assert not message.settled  # the failed ack settled nothing: it can still be requeued
    await message.nack(requeue=True)
    assert message.settled
    assert channel.sent == [("nack", 7, True)]
    with pytest.raises(RuntimeError, match="settled already"):
        await message.ack()
