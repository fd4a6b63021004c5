"""`UpstreamServer`: a scripted HTTP/1.1 server on loopback that misbehaves on request."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import struct
from collections import deque
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping
    from types import TracebackType

_MAX_HEAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer, with the fault to inject.

    Attributes:
        status: the HTTP status.
        body: the body; a dict or list is sent as JSON (with its content type).
        headers: extra response headers.
        delay: seconds to wait before answering (beyond a read timeout, or a deadline).
        stall_after: send the headers and only this many body bytes, then hang.
        reset: kill the connection with a TCP RST instead of answering.
        ignore_body: stop reading once the request's headers are in and never answer (the
            client's body backs up: a write timeout).
    """

    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    stall_after: int | None = None
    reset: bool = False
    ignore_body: bool = False

    @classmethod
    def json(cls, data: object, *, status: int = 200, **headers: str) -> Reply:
        """Answer `data` as JSON."""
        return cls(status=status, body=json.dumps(data).encode(), headers=_json_headers(headers))

    def encoded_body(self) -> bytes:
        """The body as sent."""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass(frozen=True, slots=True)
class ReceivedRequest:
    """A request the server read, with the loop time it arrived at."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes
    at: float

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]

    def json(self) -> Any:  # noqa: ANN401  (whatever the client sent)
        """The body decoded as JSON."""
        return json.loads(self.body)


class UpstreamServer:
    """A real HTTP/1.1 server on 127.0.0.1 that answers from a script, faults included.

    Replies queued with `script()` are used in order, one per request; when the queue is
    empty, `default` answers. Every request is recorded in `requests` (method, target,
    headers, body, arrival time). Keep-alive is supported, as an API's would be.

        async with UpstreamServer() as server:
            server.script(Reply(503), Reply(503), Reply.json({"id": 1}, status=201))
            ...  # point an adapter at server.url
            assert len(server.requests) == 3
    """

    def __init__(self, *, default: Reply | None = None, record: bool = True) -> None:
        self.default = default if default is not None else Reply.json({})
        self.requests: list[ReceivedRequest] = []
        self.record = record
        self._queue: deque[Reply] = deque()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = asyncio.Event()
        self.port = 0

    @property
    def url(self) -> str:
        """The base URL clients use."""
        return f"http://127.0.0.1:{self.port}"

    def script(self, *replies: Reply) -> None:
        """Queue replies for the next requests, in order."""
        self._queue.extend(replies)

    async def start(self) -> Self:
        """Start listening on a free port."""
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop listening, end every connection and wait for their handlers."""
        self._closing.set()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self._writers.add(writer)
        try:
            # A malformed request ends its connection, as a real server would.
            broken = (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError)
            with contextlib.suppress(*broken):
                while not self._closing.is_set() and await self._exchange(reader, writer):
                    pass
        finally:
            self._writers.discard(writer)
            writer.transport.abort()
            if task is not None:
                self._tasks.discard(task)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Serve one request; return whether the connection stays open for another."""
        head = await reader.readuntil(b"\r\n\r\n")
        if len(head) > _MAX_HEAD:
            return False
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        headers = {}
        for line in lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        reply = self._queue.popleft() if self._queue else self.default
        if reply.ignore_body:
            await self._closing.wait()
            return False
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        if self.record:
            at = asyncio.get_running_loop().time()
            self.requests.append(ReceivedRequest(method, target, headers, body, at))
        if reply.reset:
            _reset(writer)
            return False
        if reply.delay and await self._sleep(reply.delay):
            return False
        payload = reply.encoded_body()
        writer.write(_head(reply, len(payload)))
        if reply.stall_after is not None:
            writer.write(payload[: reply.stall_after])
            await writer.drain()
            await self._closing.wait()
            return False
        writer.write(payload)
        await writer.drain()
        return headers.get("connection", "").lower() != "close"

    async def _sleep(self, seconds: float) -> bool:
        """Sleep, or stop early when the server closes; return whether it is closing."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)
        return self._closing.is_set()


@contextlib.asynccontextmanager
async def unreachable_url() -> AsyncIterator[str]:
    """Yield a loopback URL whose connects hang (a full accept queue): a connect timeout.

    The listening socket never accepts and its backlog is filled, so the kernel drops new
    SYNs; a client's connect then waits for its timeout, as with a dead host.
    """
    listener = socket.socket()
    fillers: list[socket.socket] = []
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        for _ in range(3):
            filler = socket.socket()
            filler.setblocking(False)  # noqa: FBT003  (socket's own API)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def _head(reply: Reply, length: int) -> bytes:
    try:
        phrase = HTTPStatus(reply.status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {reply.status} {phrase}", f"content-length: {length}"]
    if isinstance(reply.body, dict | list) and "content-type" not in {
        name.lower() for name in reply.headers
    }:
        lines.append("content-type: application/json")
    lines.extend(f"{name}: {value}" for name, value in reply.headers.items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _json_headers(headers: Mapping[str, str]) -> dict[str, str]:
    # Keyword arguments cannot hold dashes: retry_after becomes retry-after.
    out = {"content-type": "application/json"}
    out.update({name.replace("_", "-"): value for name, value in headers.items()})
    return out


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0, which sends a TCP RST instead of an orderly FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
