"""Raw Redis values: JSON and pickle, and protobuf."""

from __future__ import annotations

import json
import pickle
from typing import TYPE_CHECKING

import orjson as fastjson

if TYPE_CHECKING:
    import redis.asyncio
    from google.protobuf.message import Message


class Values:
    """Values in Redis."""

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self.client = client

    async def put_json(self, key: str, value: dict[str, str]) -> None:
        await self.client.set(key, json.dumps(value), ex=60)  # expect: RD-4

    async def put_pickle(self, key: str, value: object) -> None:
        data = pickle.dumps(value)  # expect: RD-4
        await self.client.set(key, data, ex=60)

    async def get_json(self, key: str) -> object:
        return json.loads(await self.client.get(key))  # expect: RD-4

    async def get_orjson(self, key: str) -> object:
        raw = await self.client.get(key)
        return fastjson.loads(raw)  # expect: RD-4

    async def put_fast(self, key: str, value: dict[str, str]) -> None:
        await self.client.set(key, fastjson.dumps(value), ex=60)  # expect: RD-4

    async def put_proto(self, key: str, value: Message) -> None:
        await self.client.set(key, value.SerializeToString(), ex=60)  # ok: protobuf

    def log_line(self, value: dict[str, str]) -> str:
        return json.dumps(value)  # ok: JSON for a log line, not for Redis

    async def get_proto(self, key: str, into: Message) -> None:
        into.ParseFromString(await self.client.get(key))  # ok: protobuf
