"""ASGI middleware of the API: request metrics, the body limit, the last-resort 500.

The request's SERVER span is FastAPI's own (see `build_api`); these run inside it, so the
500 logged here carries its trace id.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from prometheus_client import Histogram

from svcinfra.observability import get_logger
from users.transport.http.errors import error_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

_log = get_logger("users.transport.http")

DURATION: Final = Histogram(
    "users_http_request_duration_seconds",
    "Time to answer an HTTP request, by route and status (its _count counts requests).",
    ["method", "route", "status"],
)

DEFAULT_MAX_BODY_BYTES: Final = 64 * 1024


class BoundaryMiddleware:
    """Wraps every request: its metrics, and the 500 of last resort.

    An exception no handler mapped is a bug: it is logged here, once, with the trace id, and
    the client gets a fixed body with no internals.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        method = str(scope["method"])
        started = False
        status = 500

        async def tracked_send(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = int(message["status"])
            await send(message)

        begin = time.perf_counter()
        try:
            await self._app(scope, receive, tracked_send)
        except Exception:
            _log.exception("unhandled error", method=method, route=_route(scope))
            if started:
                raise  # the response is half sent: let the server drop the connection
            status = 500
            await error_response(500, "internal", "internal error")(scope, receive, send)
        DURATION.labels(method, _route(scope), str(status)).observe(time.perf_counter() - begin)


def _route(scope: Scope) -> str:
    """The route template (`/api/v1/users/{user_id}`), never the raw path (low cardinality)."""
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


class BodyLimitMiddleware:
    """Answers 413 to a request body larger than `max_bytes`, before the app reads any of it.

    The body is read here (bounded) and replayed to the app: a declared Content-Length over the
    limit is refused at once, a chunked body as soon as it passes the limit.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int = DEFAULT_MAX_BODY_BYTES) -> None:
        self._app = app
        self._max = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max:
            await self._too_large(scope, receive, send)
            return
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
