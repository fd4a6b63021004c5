"""A rollout as Kubernetes runs it, on loopback: a round-robin TCP balancer and steady load.

`Balancer` stands in for a Service's kube-proxy: each new connection goes to the next backend
of a list the test edits (as the endpoints controller edits the Service's endpoints, some time
after a pod's SIGTERM), an open connection stays on its backend until one side closes it, and a
connection to a backend that refuses is reset, as the client of a DNAT'ed connection sees it.
`steady_load` sends a bounded number of GETs over keep-alive and over fresh connections and
counts every answer and every error.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Self

import httpx

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from types import TracebackType

_CHUNK = 65536
HOST = "127.0.0.1"


class Balancer:
    """Round-robin TCP balancer on 127.0.0.1 over a mutable list of backend ports.

    async with Balancer([8080, 8090]) as lb:
        url = f"http://127.0.0.1:{lb.port}"
        lb.remove(8080)  # new connections go to 8090; open ones stay where they are
    """

    def __init__(self, backends: list[int]) -> None:
        self.backends = list(backends)
        self.connections: Counter[int] = Counter()  # connections made, by backend port
        self.refused: Counter[int] = Counter()  # connections a backend refused, by port
        self._next = 0
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()

    @property
    def port(self) -> int:
        """The port clients connect to."""
        if self._server is None:
            raise RuntimeError("the balancer is not listening")
        return int(self._server.sockets[0].getsockname()[1])

    def add(self, port: int) -> None:
        """Route new connections to `port` too (a ready pod joins the endpoints)."""
        self.backends.append(port)

    def remove(self, port: int) -> None:
        """Route no new connection to `port` (a terminating pod leaves the endpoints)."""
        self.backends.remove(port)

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, HOST, 0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()  # ends both pumps of its connection
        await asyncio.gather(*self._pipes, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._pipes.add(task)
        self._writers.add(writer)
        try:
            if not self.backends:
                writer.transport.abort()
                return
            backend = self.backends[self._next % len(self.backends)]
            self._next += 1
            try:
                up_reader, up_writer = await asyncio.open_connection(HOST, backend)
            except OSError:
                self.refused[backend] += 1
                writer.transport.abort()  # the client sees the reset a refused SYN gives
                return
            self.connections[backend] += 1
            self._writers.add(up_writer)
            await asyncio.gather(
                _pump(reader, up_writer), _pump(up_reader, writer), return_exceptions=True
            )
            up_writer.close()
            self._writers.discard(up_writer)
        finally:
            writer.close()
            self._writers.discard(writer)
            self._pipes.discard(task)


async def _pump(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until end of file, then half-close the other side; a reset aborts it."""
    try:
        while chunk := await source.read(_CHUNK):
            sink.write(chunk)
            await sink.drain()
        if sink.can_write_eof():
            sink.write_eof()
    except OSError:
        sink.transport.abort()
        raise


@dataclass
class Tally:
    """What the load got back: statuses, and errors (no answer at all), in order."""

    limit: int
    sent: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def answered(self) -> int:
        """Requests that got an HTTP answer."""
        return sum(self.statuses.values())

    def summary(self) -> str:
        """Requests sent, statuses, and each distinct error with its count."""
        errors = Counter(self.errors).most_common()
        return f"{self.sent} sent, statuses {dict(self.statuses)}, errors {errors}"

    @property
    def server_errors(self) -> int:
        """Answers with a 5xx status."""
        return sum(n for status, n in self.statuses.items() if status >= 500)


async def steady_load(
    url: str,
    *,
    stop: asyncio.Event,
    limit: int,
    keep_alive: int = 3,
    fresh: int = 3,
    pause: float = 0.01,
) -> Tally:
    """GET `url` until `stop` is set or `limit` requests went out; return what came back.

    `keep_alive` workers share a client that keeps its connections open between requests;
    `fresh` workers open a new connection for each request. No client retries: a reset or a
    refused connection is an error in the tally.
    """
    tally = Tally(limit)
    timeout = httpx.Timeout(10.0)
    pooled = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_connections=keep_alive))
    one_shot = httpx.AsyncClient(timeout=timeout, limits=httpx.Limits(max_keepalive_connections=0))

    async def worker(client: httpx.AsyncClient) -> None:
        while not stop.is_set() and tally.sent < limit:
            tally.sent += 1
            try:
                response = await client.get(url)
            except httpx.HTTPError as exc:
                tally.errors.append(f"{type(exc).__name__}: {exc}")
            else:
                tally.statuses[response.status_code] += 1
            await asyncio.sleep(pause)

    async with pooled, one_shot:
        workers = [worker(pooled) for _ in range(keep_alive)]
        workers += [worker(one_shot) for _ in range(fresh)]
        await asyncio.gather(*workers)
    return tally


@contextlib.asynccontextmanager
async def loaded(url: str, *, limit: int) -> AsyncIterator[asyncio.Task[Tally]]:
    """Run `steady_load` on `url` in the background for the body; the task's result is the tally."""
    stop = asyncio.Event()
    task = asyncio.create_task(steady_load(url, stop=stop, limit=limit))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait({task})
