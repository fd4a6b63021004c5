"""More events of the users service."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from svcinfra.messaging import Publisher

USER_RENAMED: Final = "user.renamed.v1"
USER_BLOCKED = "user.blocked.v2"


async def renamed(publisher: Publisher, user_id: int) -> None:
    await publisher.publish(USER_RENAMED, {"user_id": user_id})  # expect: MQ-1


async def blocked(publisher: Publisher, user_id: int) -> None:
    await publisher.publish(message=USER_BLOCKED, payload={"user_id": user_id})  # expect: MQ-1


async def typo(publisher: Publisher, user_id: int) -> None:
    await publisher.publish("user.registred.v1", {"user_id": user_id})  # expect: MQ-1


async def old_version(publisher: Publisher, user_id: int) -> None:
    await publisher.publish("user.deleted.v2", {"user_id": user_id})  # expect: MQ-1


async def keyword(publisher: Publisher, user_id: int) -> None:
    await publisher.publish(name="user.merged.v1", payload={"user_id": user_id})  # expect: MQ-1


async def declared(publisher: Publisher, user_id: int) -> None:
    await publisher.publish("user.registered.v1", {"user_id": user_id})  # ok: in the contract
    await publisher.publish("user.deleted.v1", {"user_id": user_id})  # ok: in the contract
    await publisher.publish("user.email-changed.v1", {"user_id": user_id})  # ok: in the contract
