"""Publishes a message the contract lacks."""

from svcinfra.messaging import Publisher


async def announce(publisher: Publisher, user_id: int) -> None:
    """Publish the events of a change."""
    await publisher.publish("user.registered.v1", {"user_id": user_id})
    await publisher.publish("user.deleted.v1", {"user_id": user_id})
    await publisher.publish("user.renamed.v1", {"user_id": user_id})
