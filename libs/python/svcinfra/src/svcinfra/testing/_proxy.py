"""`FaultProxy`: a TCP proxy on loopback that injects real faults between a client and a server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import TracebackType

_CHUNK = 65536


class FaultProxy:
    """Forward TCP from 127.0.0.1:`port` to an upstream server, injecting faults on demand.

    The client under test connects to the proxy instead of the server. Faults:

    * `reset_all()`: kill every open connection with a TCP RST (connection killed mid-operation);
    * `refuse()` / `accept()`: stop or resume listening (server down: connection refused);
    * `stall()` / `unstall()`: keep connections open but forward nothing (a hung server: timeouts);
    * `latency`: seconds added before each forwarded chunk;
    * `reset_after_bytes(n)`: kill the next connection once `n` bytes came back from the server.

        async with FaultProxy("127.0.0.1", 5432) as proxy:
            dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/test"
    """

    def __init__(self, upstream_host: str, upstream_port: int, *, port: int = 0) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = port
        self.latency = 0.0
        self._server: asyncio.Server | None = None
        self._pipes: set[_Pipe] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._reset_after: int | None = None
        self.accepted = 0

    @property
    def host(self) -> str:
        """The address clients connect to."""
        return "127.0.0.1"

    @property
    def open_connections(self) -> int:
        """How many client connections are open through the proxy now."""
        return len(self._pipes)

    async def start(self) -> Self:
        """Start listening; the port is fixed after the first start so clients can reconnect."""
        self._server = await asyncio.start_server(
            self._handle,
            self.host,
            self.port,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        """Stop listening, drop every connection and wait for the proxy's own tasks to end."""
        await self.refuse()
        self.reset_all()
        self.unstall()
        if self._handlers:
            await asyncio.wait(self._handlers, timeout=2)

    async def refuse(self) -> None:
        """Stop listening: new connections are refused, as with a stopped server."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def accept(self) -> None:
        """Listen again on the same port."""
        if self._server is None:
            await self.start()

    def reset_all(self) -> int:
        """Kill every open connection with a TCP RST; return how many were killed."""
        pipes = list(self._pipes)
        for pipe in pipes:
            pipe.reset()
        return len(pipes)

    def stall(self) -> None:
        """Forward nothing in either direction until `unstall`; connections stay open."""
        self._flowing.clear()

    def unstall(self) -> None:
        """Resume forwarding."""
        self._flowing.set()

    def reset_after_bytes(self, count: int) -> None:
        """Reset the next connection once `count` bytes have come back from the upstream."""
        self._reset_after = count

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
            self._handlers.add(task)
        self.accepted += 1
        pipe: _Pipe | None = None
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.upstream)
            limit, self._reset_after = self._reset_after, None
            pipe = _Pipe(self, writer, up_writer, limit)
            self._pipes.add(pipe)
            await asyncio.gather(
                pipe.pump(reader, up_writer, count=False),
                pipe.pump(up_reader, writer, count=True),
            )
        except OSError:
            _abort(writer)
        except asyncio.CancelledError:
            # Nobody awaits a connection handler: asyncio's stream callback would log a
            # cancelled one as an error at loop teardown. The connection is dropped either way.
            pass
        finally:
            if pipe is not None:
                self._pipes.discard(pipe)
                pipe.reset()
            if task is not None:
                self._handlers.discard(task)


class _Pipe:
    def __init__(
        self,
        proxy: FaultProxy,
        client: asyncio.StreamWriter,
        upstream: asyncio.StreamWriter,
        reset_after: int | None,
    ) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.reset_after = reset_after
        self.returned = 0
        self.done = False

    async def pump(
        self,
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        *,
        count: bool,
    ) -> None:
        with contextlib.suppress(OSError, asyncio.IncompleteReadError):
            while not self.done:
                data = await source.read(_CHUNK)
                if not data:
                    break
                await self.proxy._flowing.wait()  # noqa: SLF001  (the pipe is the proxy's own part)
                if self.proxy.latency:
                    await asyncio.sleep(self.proxy.latency)
                if count and self.reset_after is not None:
                    room = self.reset_after - self.returned
                    if len(data) >= room:
                        sink.write(data[:room])
                        with contextlib.suppress(OSError):
                            await sink.drain()
                        self.reset()
                        return
                    self.returned += len(data)
                sink.write(data)
                await sink.drain()
        if not self.done:
            with contextlib.suppress(OSError, RuntimeError):
                sink.write_eof()

    def reset(self) -> None:
        if self.done:
            return
        self.done = True
        _abort(self.client)
        _abort(self.upstream)


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with SO_LINGER 0, which sends a TCP RST instead of an orderly FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
