"""`PrivateRedisSentinel`: a master, a replica and three sentinels of a test's own (issue 20).

Every process is a `PrivateRedis` on its own port and directory (never the shared Redis): the
master, a replica of it (`--replicaof`) and three `redis-server --sentinel` that monitor it with
quorum 2 and short timeouts (`down_after` seconds without an answer mark the master down), so a
`kill_master()` is followed by a failover in a few seconds.

    with PrivateRedisSentinel(service="cache") as ha:
        ha.sentinels                          # [("127.0.0.1", 26001), ...]: REDIS_SENTINELS
        old = ha.kill_master()                # SIGKILL of the current master
        new = ha.wait_for_failover(old)       # (host, port) of the promoted replica
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Self

import redis

from ._ports import free_port
from ._reaper import PrivateServerError
from ._redisnode import HOST, PrivateRedis

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path
    from types import TracebackType

_READY_TIMEOUT = 30.0


class _PrivateSentinel(PrivateRedis):
    """A `redis-server --sentinel` with a config file of its own (sentinels rewrite it)."""

    def __init__(
        self,
        port: int,
        *,
        service: str,
        master_port: int,
        down_after_ms: int,
        base_dir: Path | None = None,
    ) -> None:
        super().__init__(port, base_dir=base_dir)
        self._service = service
        self._master_port = master_port
        self._down_after_ms = down_after_ms

    def _command(self, exe: str, root: Path) -> list[str]:
        conf = root / "sentinel.conf"
        if not conf.exists():  # a restarted sentinel keeps what it learnt
            conf.write_text(
                f"port {self.port}\nbind {HOST}\nprotected-mode no\ndaemonize no\n"
                f"dir {root}\nlogfile {self.log_path}\n"
                f"sentinel monitor {self._service} {HOST} {self._master_port} 2\n"
                f"sentinel down-after-milliseconds {self._service} {self._down_after_ms}\n"
                f"sentinel failover-timeout {self._service} {self._down_after_ms * 5}\n"
                f"sentinel parallel-syncs {self._service} 1\n",
            )
        return [exe, str(conf), "--sentinel"]


class PrivateRedisSentinel:
    """A Sentinel-monitored master with one replica and three sentinels, all private.

    Args:
        service: the master's name at the sentinels (`REDIS_SENTINEL_MASTER`).
        down_after: seconds without an answer before the sentinels consider the master down.
        base_dir: where the temporary directories go.
    """

    def __init__(
        self,
        *,
        service: str = "svcinfra",
        down_after: float = 1.0,
        base_dir: Path | None = None,
    ) -> None:
        self.service = service
        master_port = free_port()
        self.nodes = [
            PrivateRedis(master_port, base_dir=base_dir),
            PrivateRedis(free_port(), base_dir=base_dir, extra_args=_replica_of(master_port)),
        ]
        self._sentinels = [
            _PrivateSentinel(
                free_port(),
                service=service,
                master_port=master_port,
                down_after_ms=round(down_after * 1000),
                base_dir=base_dir,
            )
            for _ in range(3)
        ]

    @property
    def sentinels(self) -> list[tuple[str, int]]:
        """The sentinels' (host, port) pairs."""
        return [(s.host, s.port) for s in self._sentinels]

    @property
    def sentinels_env(self) -> str:
        """The sentinels as `REDIS_SENTINELS` lists them: `host:port,host:port,...`."""
        return ",".join(f"{host}:{port}" for host, port in self.sentinels)

    def setup(self) -> Self:
        """Start master, replica (synced) and sentinels, and wait until they know each other.

        Raises:
            PrivateServerError: a server did not start, or the topology did not form in time.
        """
        try:
            for node in self.nodes:
                node.setup()
            self._wait("the replica to sync", self._replica_synced)
            for sentinel in self._sentinels:
                sentinel.setup()
            self._wait("the sentinels to see the replica and each other", self._sentinels_ready)
        except BaseException:
            self.close()
            raise
        return self

    def master_address(self) -> tuple[str, int] | None:
        """The master's address as the first answering sentinel reports it."""
        for _, port in self.sentinels:
            with contextlib.suppress(redis.RedisError, OSError):
                with _client(port) as client:
                    answer = client.sentinel_get_master_addr_by_name(self.service)
                if isinstance(answer, (list, tuple)) and answer:
                    host = answer[0]
                    return host.decode() if isinstance(host, bytes) else str(host), int(answer[1])
        return None

    def node_at(self, port: int) -> PrivateRedis:
        """The data node (master or replica) listening on `port`."""
        for node in self.nodes:
            if node.port == port:
                return node
        raise PrivateServerError(f"no data node on port {port}")

    def kill_master(self) -> tuple[str, int]:
        """SIGKILL the current master; return its address."""
        address = self.master_address()
        if address is None:
            raise PrivateServerError("the sentinels report no master")
        self.node_at(address[1]).kill()
        return address

    def wait_for_failover(self, old: tuple[str, int], *, timeout: float = 30.0) -> tuple[str, int]:
        """Wait until every sentinel names a master other than `old`, up and answering as one.

        Every sentinel, not one: a client asks them in turn (redis-py's `discover_master`) and
        skips one that still sees its master down, so the failover is over for a client only
        when each of them agrees.
        """
        found: list[tuple[str, int]] = []

        def promoted() -> bool:
            addresses = set()
            for sentinel in self._sentinels:
                with _client(sentinel.port) as client:
                    state = client.sentinel_master(self.service)
                if not isinstance(state, dict) or not _usable(state):
                    return False
                addresses.add((str(state["ip"]), int(state["port"])))
            if len(addresses) != 1 or old in addresses:
                return False
            address = addresses.pop()
            with _client(address[1]) as client:
                role = client.role()
            if role and role[0] in (b"master", "master"):
                found.append(address)
                return True
            return False

        self._wait("the sentinels to promote the replica", promoted, timeout=timeout)
        return found[-1]

    def close(self) -> None:
        """Stop every process and remove every directory."""
        for server in [*self._sentinels, *self.nodes]:
            with contextlib.suppress(Exception):
                server.close()

    def __enter__(self) -> Self:
        return self.setup()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _replica_synced(self) -> bool:
        with _client(self.nodes[1].port) as client:
            return client.info("replication").get("master_link_status") == "up"

    def _sentinels_ready(self) -> bool:
        for sentinel in self._sentinels:
            with _client(sentinel.port) as client:
                state = client.sentinel_master(self.service)
            if not isinstance(state, dict):
                return False
            others = len(self._sentinels) - 1
            if int(state["num-slaves"]) < 1 or int(state["num-other-sentinels"]) < others:
                return False
        return True

    def _wait(
        self, what: str, ready: Callable[[], bool], *, timeout: float = _READY_TIMEOUT
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(redis.RedisError, OSError):
                if ready():
                    return
            if time.monotonic() > deadline:
                raise PrivateServerError(f"timed out after {timeout:.0f} s waiting for {what}")
            time.sleep(0.05)


def _usable(state: dict[str, object]) -> bool:
    """Whether a sentinel's view of its master is one redis-py accepts (`check_master_state`)."""
    return bool(state.get("is_master")) and not state.get("is_sdown") and not state.get("is_odown")


def _replica_of(port: int) -> list[str]:
    return ["--replicaof", HOST, str(port)]


@contextlib.contextmanager
def _client(port: int) -> Iterator[redis.Redis]:
    """A short-lived synchronous client of 127.0.0.1:`port` (the kit's own probes)."""
    client = redis.Redis(host=HOST, port=port, socket_timeout=1, socket_connect_timeout=1)
    try:
        yield client
    finally:
        client.close()
