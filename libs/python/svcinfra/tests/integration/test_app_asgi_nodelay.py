"""The API server answers without Nagle's delay: its connections have TCP_NODELAY.

Without it a keep-alive response written in two segments (headers, then body) waits for the
client's delayed ACK, about 40 ms a request on Linux. asyncio sets the option only on sockets
created with `IPPROTO_TCP`, which `socket.create_server` does not do, so `AsgiServer` sets it on
its listening socket and the accepted connections inherit it.
"""

from __future__ import annotations

import asyncio
import socket

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from svcinfra.app import AsgiServer


async def hello(_: object) -> PlainTextResponse:
    return PlainTextResponse("hello")


async def test_accepted_connections_have_tcp_nodelay() -> None:
    """A connection the server accepted has TCP_NODELAY set on the server's side."""
    app = Starlette(routes=[Route("/hello", hello)])
    async with AsgiServer(app, host="127.0.0.1", port=0) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        try:
            writer.write(b"GET /hello HTTP/1.1\r\nHost: test\r\n\r\n")
            await reader.readuntil(b"hello")
            assert server._server is not None
            (connection,) = server._server.server_state.connections
            accepted = connection.transport.get_extra_info("socket")
            assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        finally:
            writer.close()
            await writer.wait_closed()
