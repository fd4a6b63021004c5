"""Raw Redis use."""

import json

import redis.asyncio as redis


class Store:
    """Stores profiles the wrong way."""

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    async def put(self, user_id: int, value: dict) -> None:
        """Write without TTL, with a bad key and JSON."""
        await self._redis.set(f"profile:{user_id}", json.dumps(value))
        await self._redis.set(f"user:profile:{user_id}", b"x", ex=60)
        await self._redis.publish("user.registered.v1", b"x")
