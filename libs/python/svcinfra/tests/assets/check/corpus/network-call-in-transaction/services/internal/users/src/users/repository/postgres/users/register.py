"""Registration that talks to the network inside its transaction, and idioms that do not."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import requests

if TYPE_CHECKING:
    import redis.asyncio
    from sqlalchemy.ext.asyncio import AsyncSession

    from svcinfra.messaging import Publisher
    from svcinfra.postgres import Database


def notify_partner(url: str) -> None:
    """A module helper that posts to a partner."""
    requests.post(url, json={}, timeout=3)


class Registrations:
    """Registers users."""

    def __init__(
        self,
        db: Database,
        mailer: httpx.AsyncClient,
        store: redis.asyncio.Redis,
        bus: Publisher,
        session: AsyncSession,
    ) -> None:
        self._db = db
        self._mailer = mailer
        self.store = store
        self.bus = bus
        self.session = session
        self.outbox = object()

    async def _welcome(self, email: str) -> None:
        await self._mailer.post("/send", json={"to": email})

    async def _sync(self, email: str) -> None:
        await self._push(email)

    async def _push(self, email: str) -> None:
        httpx.post("https://crm.internal/push", json={"email": email}, timeout=2)

    async def register(self, email: str) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("users__create", email)  # ok: the transaction's own connection
            await self._mailer.post("/send", json={"to": email})  # expect: PG-12
            await self._welcome(email)  # expect: PG-12
            await self._sync(email)  # expect: PG-12
            await self.store.set(f"users:profile:{email}", b"", ex=60)  # expect: PG-12
            await self.bus.publish("user.created.v1", {"email": email})  # expect: PG-12
            notify_partner("https://partner.example/hook")  # expect: PG-12
            await self.outbox.add(tx, {"email": email})  # ok: the outbox row is the way
        await self._welcome(email)  # ok: after the commit

    async def orm(self, user_id: int) -> object:
        async with self.session.begin():
            user = await self.session.get(object, user_id)  # ok: an ORM read, not the network
            self.session.add(user)  # ok: an ORM write
        return user
