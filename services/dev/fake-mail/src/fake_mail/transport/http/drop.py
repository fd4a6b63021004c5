"""Dropping a connection without a response: the "crash after accept" fault.

A handler marks its request with `request.state.drop_connection = True` and returns as usual;
this middleware, outermost around the app, swallows the response and aborts the TCP connection,
so the client sees a connection error, as when a real API crashes after committing.

ASGI has no message for it, so the transport is taken from uvicorn's request cycle, whose bound
`receive` the server passes to the app. Under another server (httpx's ASGITransport in tests)
the app raises `ConnectionDroppedError` instead, which the in-process client surfaces.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

DROP: Final = "drop_connection"
_DISCONNECT_POLLS: Final = 100


class ConnectionDroppedError(ConnectionError):
    """The response was dropped and no server transport was there to abort."""


class DropConnectionMiddleware:
    """Swallow the response of requests marked `drop_connection` and abort their connection."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app; drop the connection instead of responding when the request asks for it."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        state: dict[str, Any] = scope.setdefault("state", {})
        cycle = getattr(receive, "__self__", None)
        transport = getattr(cycle, "transport", None)
        dropped = False

        async def guarded(message: Message) -> None:
            nonlocal dropped
            if not state.get(DROP):
                await send(message)
                return
            if not dropped and transport is not None:
                transport.abort()
            dropped = True

        await self._app(scope, receive, guarded)
        if not dropped:
            return
        if transport is None:
            raise ConnectionDroppedError("the response was dropped (crash after accept)")
        # abort() reports the lost connection on the next loop iteration; waiting for it keeps
        # uvicorn from answering "500, returned without starting response" on a dead socket.
        for _ in range(_DISCONNECT_POLLS):
            if getattr(cycle, "disconnected", True):
                break
            await asyncio.sleep(0)
