"""`PrivateRabbitCluster`: private RabbitMQ nodes joined into one cluster (issue 20).

Each node is a `PrivateRabbitNode` (own node name, AMQP, distribution and `rabbitmqctl` ports,
data directory), all with one Erlang cookie of the cluster's own; the first node starts the
cluster and the others `join_cluster` it. Quorum queues declared afterwards get a member on
every node (their default initial group size is the cluster's size), so losing one node of three
keeps a majority. Nothing here names or reaches the machine's shared broker.

    with PrivateRabbitCluster("ab12", tmp_path) as cluster:
        url = cluster.url                    # amqp://guest:guest@127.0.0.1:p1,127.0.0.1:p2,.../
        leader = cluster.leader("work")      # the node that leads a quorum queue
        leader.kill()                        # SIGKILL: a crashed node
"""

from __future__ import annotations

import contextlib
import secrets
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Self

from ._ports import free_port
from ._rabbitnode import PrivateRabbitNode, RabbitNodeError

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType


class PrivateRabbitCluster:
    """`size` private RabbitMQ nodes on loopback, clustered (see the module docstring).

    Args:
        run: a short id of the test run; the nodes are `svcinfra-test-<run>-c<n>@localhost`.
        base_dir: the nodes' directories go under it (removed by `close()`).
        size: how many nodes (3: a quorum queue survives the loss of one).
    """

    def __init__(self, run: str, base_dir: Path, *, size: int = 3) -> None:
        if size < 1:
            raise ValueError("a cluster has at least one node")
        cookie = secrets.token_hex(20).upper()
        self.nodes = [
            PrivateRabbitNode(
                f"svcinfra-test-{run}-c{n}",
                free_port(),
                free_port(),
                base_dir,
                ctl_dist_port=free_port(),
                cookie=cookie,
            )
            for n in range(1, size + 1)
        ]

    @property
    def url(self) -> str:
        """The AMQP URL naming every node (a host list, as `AmqpSettings.url()` writes it)."""
        hosts = ",".join(f"127.0.0.1:{node.amqp_port}" for node in self.nodes)
        return f"amqp://guest:guest@{hosts}/"

    @property
    def running(self) -> list[PrivateRabbitNode]:
        """The nodes whose process runs."""
        return [node for node in self.nodes if node.pid is not None]

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self) -> Self:
        """Start every node (side by side), join the others to the first, wait for all."""
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            for started in [pool.submit(node.start) for node in self.nodes]:
                started.result()
        first, *others = self.nodes
        for node in others:
            node.join(first)
        self.wait_members(len(self.nodes))
        return self

    def wait_members(self, count: int, timeout: float = 60.0) -> None:
        """Wait until a running node sees `count` running nodes in the cluster."""
        deadline = time.monotonic() + timeout
        seen = ""
        while time.monotonic() < deadline:
            with contextlib.suppress(RabbitNodeError):
                seen = self.running[0].ctl("eval", "length(rabbit_nodes:all_running()).").strip()
                if seen == str(count):
                    return
            time.sleep(0.5)
        raise RabbitNodeError(f"the cluster has {seen or '?'} running nodes, not {count}")

    def leader(self, queue: str, vhost: str = "/") -> PrivateRabbitNode:
        """The node that leads quorum queue `queue` now (asked of a running node).

        Raises:
            RabbitNodeError: no running node answers, or the queue has no leader among the nodes.
        """
        listing = self.running[0].ctl(
            "list_queues", "-p", vhost, "name", "leader", "--no-table-headers"
        )
        for line in listing.splitlines():
            name, _, leader = line.partition("\t")
            if name == queue:
                for node in self.nodes:
                    if node.node == leader.strip():
                        return node
                raise RabbitNodeError(f"{queue}: its leader {leader.strip()!r} is not a node here")
        raise RabbitNodeError(f"{queue}: no such queue on {self.running[0].node}")

    def move_leader(self, queue: str, to: PrivateRabbitNode, vhost: str = "/") -> None:
        """Make `to` lead quorum queue `queue` (Ra's leadership transfer), and wait for it.

        Raises:
            RabbitNodeError: the transfer failed or did not happen within 30 s.
        """
        if self.leader(queue, vhost) is to:
            return
        lookup = f'rabbit_misc:r(<<"{vhost}">>, queue, <<"{queue}">>)'
        self.running[0].ctl(
            "eval",
            f"{{ok, Q}} = rabbit_amqqueue:lookup({lookup}), {{Name, _}} = amqqueue:get_pid(Q), "
            f"ra:transfer_leadership(amqqueue:get_pid(Q), {{Name, '{to.node}'}}).",
        )
        deadline = time.monotonic() + 30
        while self.leader(queue, vhost) is not to:
            if time.monotonic() >= deadline:
                raise RabbitNodeError(f"{queue}: the leadership did not move to {to.node}")
            time.sleep(0.2)

    def node_of(self, connection_name: str) -> PrivateRabbitNode:
        """The node a client connection named `connection_name` is connected to.

        Raises:
            RabbitNodeError: no such connection.
        """
        listing = self.running[0].ctl(
            "list_connections", "pid", "client_properties", "--no-table-headers"
        )
        for line in listing.splitlines():
            if f'{{"connection_name","{connection_name}"}}' in line:
                for node in self.nodes:
                    if f"<{node.node}." in line.partition("\t")[0]:
                        return node
        raise RabbitNodeError(f"no connection named {connection_name!r} on the cluster")

    def close(self) -> None:
        """Stop every node (killing the ones that do not stop) and remove their directories."""
        # Killed first: a clean stop of a cluster member waits for its peers, which may be gone.
        for node in self.nodes:
            node.kill()
            node.close()
