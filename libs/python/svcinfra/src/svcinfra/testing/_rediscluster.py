"""`PrivateRedisCluster`: a Redis Cluster of a test's own, three masters (issue 20).

Every node is a `PrivateRedis` with `--cluster-enabled yes` on its own port and directory (never
the shared Redis), so the kit's process-group start, reaper and cleanup apply to each. The
cluster is formed with `redis-cli --cluster create`, with `replicas` replicas per master, and a
short `--cluster-node-timeout` (`node_timeout` seconds), so a killed master is marked failed,
and its replica promoted, in a few seconds.

    with PrivateRedisCluster(replicas=1) as cluster:
        cluster.nodes_env                     # "127.0.0.1:17001,...": REDIS_CLUSTER_NODES
        old = cluster.kill_master_of(key)     # SIGKILL of the master serving `key`
        cluster.wait_for_failover(old)        # its replica serves the slots
        cluster.restart(old)                  # back, as a replica of the promoted node
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from typing import TYPE_CHECKING, Any, Self, cast

import redis
from redis.crc import key_slot

from ._ports import free_port
from ._reaper import PrivateServerError
from ._redisnode import PrivateRedis
from ._sentinel import _client

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path
    from types import TracebackType

_READY_TIMEOUT = 30.0
MASTERS = 3


class PrivateRedisCluster:
    """Three masters (and `replicas` replicas of each), all private, formed into one cluster.

    Args:
        replicas: replicas per master (0: a killed master's slots fail until it is back).
        node_timeout: seconds without an answer before the others mark a node failed
            (`cluster-node-timeout`).
        base_dir: where the temporary directories go.
    """

    def __init__(
        self, *, replicas: int = 0, node_timeout: float = 1.0, base_dir: Path | None = None
    ) -> None:
        if replicas < 0:
            raise ValueError("replicas must be 0 or more")
        self.replicas = replicas
        timeout_ms = round(node_timeout * 1000)
        # Each node's cluster bus gets a free port of its own (Redis's default, port + 10000,
        # may be taken or beyond 65535).
        self.nodes = [
            PrivateRedis(
                free_port(), base_dir=base_dir, extra_args=_node_args(timeout_ms, free_port())
            )
            for _ in range(MASTERS * (1 + replicas))
        ]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """Every node's (host, port)."""
        return [(node.host, node.port) for node in self.nodes]

    @property
    def nodes_env(self) -> str:
        """The nodes as `REDIS_CLUSTER_NODES` lists them: `host:port,host:port,...`."""
        return ",".join(f"{host}:{port}" for host, port in self.addresses)

    def setup(self) -> Self:
        """Start every node, create the cluster and wait until every node reports it ok.

        Raises:
            PrivateServerError: a server did not start, `redis-cli` failed, or the cluster did
                not form in time.
        """
        try:
            for node in self.nodes:
                node.setup()
            self._create()
            self._wait("the cluster to form", self._formed)
        except BaseException:
            self.close()
            raise
        return self

    def _create(self) -> None:
        exe = shutil.which("redis-cli") or shutil.which("redis-cli", path="/usr/bin:/usr/sbin")
        if exe is None:
            raise PrivateServerError("redis-cli is not installed (scripts/infra.sh up does it)")
        argv = [
            exe, "--cluster", "create", *(f"{h}:{p}" for h, p in self.addresses),
            "--cluster-replicas", str(self.replicas), "--cluster-yes",
        ]  # fmt: skip
        done = subprocess.run(  # noqa: S603  (the installed redis-cli)
            argv, capture_output=True, timeout=_READY_TIMEOUT, check=False
        )
        if done.returncode != 0:
            out = (done.stdout + done.stderr).decode(errors="replace")[-2000:]
            raise PrivateServerError(f"redis-cli --cluster create failed:\n{out}")

    def node_at(self, port: int) -> PrivateRedis:
        """The node listening on `port`."""
        for node in self.nodes:
            if node.port == port:
                return node
        raise PrivateServerError(f"no cluster node on port {port}")

    def master_of(self, key: str | bytes) -> PrivateRedis:
        """The node that serves `key`'s slot now, as a live node's `CLUSTER SLOTS` says."""
        slot = key_slot(key.encode() if isinstance(key, str) else key)
        for node in self._live():
            with contextlib.suppress(redis.RedisError, OSError), _client(node.port) as client:
                for start, end, master, *_ in _slots(client):
                    if start <= slot <= end:
                        return self.node_at(int(master[1]))
        raise PrivateServerError(f"no live node knows who serves slot {slot}")

    def kill(self, node: PrivateRedis) -> None:
        """SIGKILL `node` (a crash)."""
        node.kill()

    def kill_master_of(self, key: str | bytes) -> PrivateRedis:
        """SIGKILL the master serving `key`; return it (to `restart` or `wait_for_failover`)."""
        node = self.master_of(key)
        node.kill()
        return node

    def restart(self, node: PrivateRedis, *, timeout: float = _READY_TIMEOUT) -> None:
        """Start `node` again (its `nodes.conf` rejoins it) and wait for the cluster to be ok."""
        node.start()
        self._wait("the node to rejoin", self._formed, timeout=timeout)

    def wait_for_failover(self, old: PrivateRedis, *, timeout: float = _READY_TIMEOUT) -> None:
        """Wait until the live nodes report the cluster ok with `old`'s slots served elsewhere."""

        def promoted() -> bool:
            if not self._formed():
                return False
            with _client(self._live()[0].port) as client:
                slots = _slots(client)
            return all(int(master[1]) != old.port for _, _, master, *_ in slots)

        self._wait("a replica to take over the killed master's slots", promoted, timeout=timeout)

    def close(self) -> None:
        """Stop every node and remove every directory."""
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.close()

    def stop(self) -> None:
        """The same as `close`."""
        self.close()

    def __enter__(self) -> Self:
        return self.setup()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _live(self) -> list[PrivateRedis]:
        return [node for node in self.nodes if node.pid is not None]

    def _formed(self) -> bool:
        """Every live node says `cluster_state:ok`, knows every node and its replicas synced."""
        for node in self._live():
            with _client(node.port) as client:
                info = client.cluster("INFO")
                if not isinstance(info, dict):
                    return False
                if info.get("cluster_state") != "ok":
                    return False
                if int(info.get("cluster_known_nodes", 0)) != len(self.nodes):
                    return False
                if int(info.get("cluster_slots_assigned", 0)) != 16384:  # noqa: PLR2004
                    return False
                replication = client.info("replication")
            if replication.get("role") == "slave" and replication.get("master_link_status") != "up":
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


def _node_args(timeout_ms: int, bus_port: int) -> list[str]:
    return [
        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
        "--cluster-port", str(bus_port),
        "--cluster-node-timeout", str(timeout_ms),
        # a replica takes over however long its master was gone
        "--cluster-replica-validity-factor", "0",
    ]  # fmt: skip


def _slots(client: redis.Redis) -> list[Any]:
    """`CLUSTER SLOTS`: [start, end, [master host, port, id], replicas...] per range."""
    return cast("list[Any]", client.execute_command("CLUSTER SLOTS"))  # type: ignore[no-untyped-call]
