"""`AsgiServer`: uvicorn inside the service's own event loop, signals left to the runner."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import TYPE_CHECKING, Self

import uvicorn

from ._methods import AllowedMethods

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

    from starlette.types import ASGIApp, Message, Receive, Scope, Send

_STARTUP_POLL = 0.01
# Seconds an idle keep-alive connection stays open: longer than what sits in front of a service
# keeps an idle connection to it (nginx's upstream keepalive_timeout and AWS ALB's idle timeout,
# 60 s; httpx's keepalive_expiry, 5 s). Uvicorn's default of 5 s equals httpx's: a request sent
# on a connection the server is closing at that moment fails (RemoteProtocolError), which the
# clustered chaos run met outside every fault. The side that keeps a connection longer must be
# the server, so that the client always gives it up first.
KEEP_ALIVE = 75
_CONNECTION = b"connection"
_CLOSE = (_CONNECTION, b"close")


class _CloseWhileDraining:
    """Answer `Connection: close` once draining began, so keep-alive clients reconnect.

    A client's next request then opens a new connection, which the load balancer routes to
    another replica; uvicorn closes the connection after the answer. Until the drain begins
    requests go straight to the app (one attribute read a request).
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app
        self.draining = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.draining or scope["type"] != "http":
            await self._app(scope, receive, send)
            return

        async def send_closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", ()) if h[0].lower() != _CONNECTION]
                message = {**message, "headers": [*headers, _CLOSE]}
            await send(message)

        await self._app(scope, receive, send_closing)


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The runner owns the signals through loop.add_signal_handler. Uvicorn would replace
        # them with signal.signal for SIGINT/SIGTERM and re-raise what it caught after serving.
        yield


class AsgiServer:
    """An ASGI app served by uvicorn in the running event loop, for the API or the tech port.

    Uvicorn is told to leave signals and logging alone: the runner's handlers decide when to
    stop, and its lines go through the service's JSON logging. Run it as a lifecycle task, so
    that it starts once setup is complete, stops before the resources its handlers use close,
    and a crash of it shuts the service down:

        api = AsgiServer(app, host=config.http.host, port=config.http.api_port)
        lc.add_task("api", api.serve, stop=api.request_stop, drain=api.drain)

    Or as an async context manager (`start` / `aclose`), which is how `TechServer` uses it.

    An API behind a load balancer also passes `drain=api.drain`: at shutdown, before it stops
    accepting, it serves through the lifecycle's drain delay and answers `Connection: close`.

    The app is served inside `AllowedMethods`: a 405 of its router, and an OPTIONS it has no
    route for, name every method of the path in `Allow` (Starlette names only the first route's).

    Args:
        app: the ASGI application.
        host: the address to listen on.
        port: the port to listen on; 0 picks a free one (see `port`).
        access_log: log every request (uvicorn's access log).
        drain_timeout: seconds requests in flight get to finish once it stops.
        keep_alive: seconds an idle keep-alive connection stays open (`KEEP_ALIVE`: longer than
            the clients' and proxies' own idle timeouts). Idle connections close at once when
            it stops, so this does not lengthen a shutdown.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        host: str = "0.0.0.0",  # noqa: S104  (a pod listens on its own interface)
        port: int,
        access_log: bool = False,
        drain_timeout: int = 5,
        keep_alive: int = KEEP_ALIVE,
    ) -> None:
        self._draining = _CloseWhileDraining(AllowedMethods(app))
        self._host = host
        self._port = port
        self._access_log = access_log
        self._drain_timeout = drain_timeout
        self._keep_alive = keep_alive
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None
        self._bound_port: int | None = None

    @property
    def port(self) -> int:
        """The port it listens on.

        Raises:
            RuntimeError: it is not serving.
        """
        if self._bound_port is None:
            raise RuntimeError("the server is not serving")
        return self._bound_port

    async def start(self) -> None:
        """Bind the port and serve in the background; return once it accepts connections.

        Raises:
            OSError: the port cannot be bound.
            RuntimeError: it is already serving, or uvicorn stopped while starting.
        """
        if self._server is not None:
            raise RuntimeError("the server is already serving")
        family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
        # Bound here rather than by uvicorn: a busy port raises OSError to the caller instead of
        # uvicorn's sys.exit, and port 0 tells which port it got.
        sock = socket.create_server((self._host, self._port), family=family)
        # asyncio sets TCP_NODELAY only on sockets whose proto is IPPROTO_TCP, and create_server
        # makes proto-0 sockets: without this, a keep-alive response written in two segments
        # (headers, body) waits for the client's delayed ACK, 40 ms a request. Accepted
        # connections inherit the option from the listening socket.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        config = uvicorn.Config(
            self._draining,
            lifespan="off",
            log_config=None,  # the service's JSON logging stays in place
            access_log=self._access_log,
            ws="none",
            server_header=False,
            timeout_graceful_shutdown=self._drain_timeout,
            timeout_keep_alive=self._keep_alive,
        )
        server = _Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn:{self._port}")
        self._server, self._task = server, task
        while not server.started:
            if task.done():
                self._server = self._task = None
                task.result()
                raise RuntimeError("uvicorn stopped while starting")
            await asyncio.sleep(_STARTUP_POLL)
        self._bound_port = sock.getsockname()[1]

    @property
    def draining(self) -> bool:
        """Whether `drain` was called: answers say `Connection: close`."""
        return self._draining.draining

    def drain(self) -> None:
        """Keep serving, but close each connection after its answer (the task's `drain`).

        Keep-alive clients then open new connections, which the load balancer, told by the
        readiness 503, routes to other replicas; `request_stop` later stops accepting.
        """
        self._draining.draining = True

    def request_stop(self) -> None:
        """Ask it to stop: no new connections, requests in flight finish (the task's `stop`)."""
        if self._server is not None:
            self._server.should_exit = True

    async def serve(self) -> None:
        """Start, then serve until `request_stop` (the task's `run`)."""
        await self.start()
        try:
            if self._task is not None:
                await self._task
        finally:
            self._reset()

    async def aclose(self) -> None:
        """Stop and wait until requests in flight finished and the port is released."""
        task = self._task
        if task is None:
            return
        self.request_stop()
        try:
            await task
        finally:
            self._reset()

    def _reset(self) -> None:
        self._server = self._task = self._bound_port = None
        self._draining.draining = False

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()
