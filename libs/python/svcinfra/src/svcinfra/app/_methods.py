"""`AllowedMethods`: OPTIONS and 405 answers name every method a path has (RFC 9110 10.2.1).

Starlette (and FastAPI, one route per method) answers a method a path lacks with the `Allow` of
the first route whose path matched: `/users/{id}` with GET, PATCH and DELETE routes answers
`OPTIONS` and `PUT` with `405, Allow: GET`, and a client that reads `Allow` (or an OpenAPI
conformance check) is told PATCH and DELETE do not exist. This middleware lets the app answer,
and when the answer is a 405 of the router it puts the methods of every route matching the path
in `Allow`; an `OPTIONS` the app has no route for becomes `204 No Content` with that `Allow`.

It reads the router the app put in the ASGI scope (`scope["router"]`, Starlette's and FastAPI's),
so it needs nothing but the app; for another ASGI framework it passes every response through.
`AsgiServer` wraps every app it serves with it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from starlette.routing import Match, Mount

if TYPE_CHECKING:
    from collections.abc import Iterable, MutableMapping

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

_METHOD_NOT_ALLOWED: Final = 405
_NO_CONTENT: Final = 204
# The methods asked about (OPTIONS is answered here): RFC 9110's, and PATCH (RFC 5789).
_METHODS: Final = ("CONNECT", "DELETE", "GET", "HEAD", "PATCH", "POST", "PUT", "TRACE")


def allowed_methods(routes: Iterable[object], scope: Scope) -> set[str]:
    """Every method a route of `routes` (and of the routers mounted there) takes for the path.

    Each method of RFC 9110 (and PATCH) is offered to the routes' `matches`, the one call every
    Starlette route answers (FastAPI's included routers too, whose inner routes are private): a
    method is allowed when a route matches the path and that method fully. A Mount matches by
    path alone, so the routes mounted under it are asked in turn.
    """
    methods: set[str] = set()
    for route in routes:
        matches = getattr(route, "matches", None)
        if matches is None:
            continue
        if isinstance(route, Mount):
            match, child = matches(scope)
            if match is not Match.NONE:
                methods |= allowed_methods(route.routes, {**scope, **child})
            continue
        methods |= {m for m in _METHODS if matches({**scope, "method": m})[0] is Match.FULL}
    return methods


class AllowedMethods:
    """ASGI middleware: a router's 405 lists every method of the path; OPTIONS answers 204.

    Args:
        app: the ASGI application (a Starlette or FastAPI app, possibly inside middleware).
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one ASGI connection."""
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        # The path as the router first saw it: a Mount it passes through extends `root_path`
        # in this very scope, and the routes are matched again, from the top, on a 405.
        at_entry = {"path": scope["path"], "root_path": scope.get("root_path", "")}
        rewriting = False

        async def rewriting_send(message: Message) -> None:
            nonlocal rewriting
            if message["type"] == "http.response.start":
                if int(message["status"]) != _METHOD_NOT_ALLOWED:
                    await send(message)
                    return
                methods = self._methods({**scope, **at_entry})
                if methods is None:  # no router, or no route of the path: not ours to rewrite
                    await send(message)
                    return
                rewriting = scope["method"] == "OPTIONS"
                await send(_with_allow(message, methods, options=rewriting))
                return
            if rewriting:  # the 405's body is dropped: the OPTIONS answer is 204, empty
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                return
            await send(message)

        await self._app(scope, receive, rewriting_send)

    @staticmethod
    def _methods(scope: Scope) -> set[str] | None:
        router = scope.get("router")
        routes = getattr(router, "routes", None)
        if routes is None:
            return None
        methods = allowed_methods(routes, scope)
        return methods | {"OPTIONS"} if methods else None


def _with_allow(message: Message, methods: set[str], *, options: bool) -> Message:
    allow = ", ".join(sorted(methods)).encode("latin-1")
    headers: list[tuple[bytes, bytes]] = [
        (name, value)
        for name, value in message.get("headers", [])
        if name.lower() != b"allow"
        and not (options and name.lower() in {b"content-length", b"content-type"})
    ]
    headers.append((b"allow", allow))
    rewritten: MutableMapping[str, object] = dict(message)
    rewritten["headers"] = headers
    if options:
        rewritten["status"] = _NO_CONTENT
    return rewritten
