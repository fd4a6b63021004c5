"""ASGI middleware of the API: the body limit.

Metrics, the request's trace and the 500 of last resort are `svcinfra.app.RequestTelemetry`'s
(see `build_api`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from users.transport.http.errors import error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024
_CONTENT_LENGTH: Final = b"content-length"
_TRANSFER_ENCODING: Final = b"transfer-encoding"


class BodyLimitMiddleware:
    """Answers 413 to a request body larger than `max_bytes`, before the app reads any of it.

    A declared Content-Length over the limit is refused at once; one within it is passed
    through untouched, since the HTTP server (h11, httptools) never delivers more body than the
    length declared. A request with neither header has no body (the server delivers none) and
    is passed through too. A chunked body (or one whose length is not a number, which the
    server refuses first) is read here (bounded) and replayed to the app, refused as soon as it
    passes the limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = chunked = None
        for name, value in scope["headers"]:
            if name == _CONTENT_LENGTH:
                declared = value
            elif name == _TRANSFER_ENCODING:
                chunked = value
        if chunked is None:
            if declared is None:
                # No length and not chunked: an HTTP/1.1 request without a body (RFC 9112
                # 6.3), which is how every GET arrives; nothing to bound, nothing to replay.
                await self._app(scope, receive, send)
                return
            if declared.isdigit():
                if int(declared) > self._max:
                    await self._too_large(scope, receive, send)
                else:
                    await self._app(scope, receive, send)
                return
        await self._bounded(scope, receive, send)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Read a body of unknown length up to the limit, then replay it to the app."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self._max:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self._app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_response(
            413, "payload_too_large", f"the request body is larger than {self._max} bytes"
        )
        await response(scope, receive, send)
