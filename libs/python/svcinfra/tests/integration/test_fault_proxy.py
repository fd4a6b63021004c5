"""svcinfra.testing.FaultProxy against a real server (Redis): forwarding and each fault."""

from __future__ import annotations

import asyncio

import pytest

from svcinfra.testing import FaultProxy

pytestmark = [pytest.mark.redis, pytest.mark.usefixtures("redis_server")]

PING = b"*1\r\n$4\r\nPING\r\n"


async def ping(port: int, *, timeout: float = 2.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(PING)
        await writer.drain()
        return await asyncio.wait_for(reader.readline(), timeout)
    finally:
        writer.close()


async def request_after_reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(PING)
    await writer.drain()
    if not await asyncio.wait_for(reader.readline(), 2):
        raise asyncio.IncompleteReadError(b"", None)


async def read_until_closed(reader: asyncio.StreamReader, received: bytearray) -> None:
    while chunk := await asyncio.wait_for(reader.read(100), 2):
        received.extend(chunk)
    raise asyncio.IncompleteReadError(bytes(received), None)


async def test_forwards_to_the_upstream() -> None:
    """Through the proxy, the real server answers."""
    async with FaultProxy("127.0.0.1", 6379) as proxy:
        assert await ping(proxy.port) == b"+PONG\r\n"
        assert proxy.accepted == 1


async def test_reset_all_kills_open_connections() -> None:
    """An open connection is reset: the client's next read fails instead of hanging."""
    async with FaultProxy("127.0.0.1", 6379) as proxy:
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(PING)
        await writer.drain()
        assert await reader.readline() == b"+PONG\r\n"
        await asyncio.sleep(0)

        assert proxy.reset_all() == 1
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError, BrokenPipeError)):
            await request_after_reset(reader, writer)
        writer.close()


async def test_refuse_and_accept() -> None:
    """A refusing proxy looks like a stopped server; accepting again restores the same port."""
    async with FaultProxy("127.0.0.1", 6379) as proxy:
        port = proxy.port
        await proxy.refuse()
        with pytest.raises(ConnectionRefusedError):
            await ping(port)
        await proxy.accept()
        assert proxy.port == port
        assert await ping(port) == b"+PONG\r\n"


async def test_stall_turns_requests_into_timeouts() -> None:
    """While stalled nothing is forwarded, so the client times out; unstalled it recovers."""
    async with FaultProxy("127.0.0.1", 6379) as proxy:
        proxy.stall()
        with pytest.raises(TimeoutError):
            await ping(proxy.port, timeout=0.2)
        proxy.unstall()
        assert await ping(proxy.port) == b"+PONG\r\n"


async def test_reset_after_bytes_cuts_a_reply_half_way() -> None:
    """The reply is cut after the given number of bytes, then the connection is reset."""
    async with FaultProxy("127.0.0.1", 6379) as proxy:
        proxy.reset_after_bytes(3)
        reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port)
        writer.write(PING)
        await writer.drain()
        received = bytearray()
        with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
            await read_until_closed(reader, received)
        assert received == b"+PO"
        writer.close()
