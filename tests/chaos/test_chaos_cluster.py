"""The clustered chaos run at CI size, and its fault evidence shown to fail on what it must catch.

`make chaos-cluster` runs the full scenario (5,000 registrations); CI runs the same scenario with
fewer registrations on a faster schedule. The topology is private (a three-node RabbitMQ
cluster, a PostgreSQL primary with a standby, Redis with sentinels), removed afterwards; the
machine's shared servers keep their start times and a connection held to each.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from chaos_cluster import (
    SCHEDULE,
    ClusterConfig,
    chaos_cluster,
    did_not_bite,
    save_cluster,
    table,
)
from chaos_servers import same_start

CI_N = 300
CI_SCALE = 0.4


_VICTIM = textwrap.dedent("""
    import json, sys, time
    sys.path[:0] = sys.argv[1:3]
    from chaos_cluster import ClusterServers
    with ClusterServers(sys.argv[3]) as servers:
        postmasters = [int((pg.data_dir / "postmaster.pid").read_text().split()[0])
                       for pg in (servers.primary, servers.standby)]
        redis = [node.pid for node in servers.redis.nodes]
        print(json.dumps(servers.where() | {
            "pids": postmasters + redis, "groups": [n.pid for n in servers.rabbit.nodes],
        }), flush=True)
        time.sleep(900)
""")


def _alive(pid: int, *, group: bool = False) -> bool:
    """Whether a live (not zombie) process `pid`, or of process group `pid`, exists."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue  # gone meanwhile
        if fields[0] == "Z":
            continue
        if (int(fields[2]) if group else int(stat.parent.name)) == pid:
            return True
    return False


@pytest.mark.e2e
@pytest.mark.chaos_cluster
@pytest.mark.timeout(420)
def test_a_killed_run_leaves_no_node_no_server_and_no_directory() -> None:
    """SIGKILL of a run holding its whole private topology: the guards remove every piece."""
    here = Path(__file__).resolve().parent
    argv = [sys.executable, "-c", _VICTIM, str(here.parents[1] / "tools"), str(here), "ckill1"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as victim:
        try:
            assert victim.stdout is not None
            started = json.loads(victim.stdout.readline())
            assert all(_listening(port) for port in started["ports"])
            assert all(_alive(group, group=True) for group in started["groups"])
        finally:
            victim.send_signal(signal.SIGKILL)

    def left() -> list[object]:
        return [
            *(d for d in started["dirs"] if Path(d).exists()),
            *(p for p in started["pids"] if _alive(p)),
            *(f"rabbitmq group {g}" for g in started["groups"] if _alive(g, group=True)),
            *(port for port in started["ports"] if _listening(port)),
        ]

    deadline = time.monotonic() + 120
    while left() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert left() == []


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.e2e
@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.rabbitmq
@pytest.mark.chaos_cluster
@pytest.mark.timeout(600)
def test_node_kills_of_each_kind_lose_and_duplicate_nothing(
    tmp_path: Path, postgres_server: str, redis_server: str, amqp_server: str
) -> None:
    """N registrations while the work queue's leader, another RabbitMQ node, the Redis master and
    the PostgreSQL primary are killed in turn: every effect exactly once, the shared servers
    untouched, nothing of the private topology left."""
    del postgres_server, redis_server, amqp_server  # the watched shared servers must be up
    report = chaos_cluster(
        ClusterConfig(n=CI_N, scale=CI_SCALE, quiesce_timeout=150), log_dir=tmp_path / "logs"
    )
    save_cluster(report, tmp_path, "chaos-cluster")
    print(table(report))  # noqa: T201  (the figures, in the test's output)

    assert report.failures == [], table(report)
    assert [f["kind"] for f in report.faults] == [f.kind for f in SCHEDULE]
    assert all(f["recovery_s"] is not None for f in report.faults)
    shared = report.shared_servers
    assert shared["problems"] == []
    assert all(same_start(shared["before"][k], shared["after"][k]) for k in shared["before"])
    assert set(shared["held"].values()) == {"kept"}
    private = report.private_servers
    assert [d for d in private["dirs"] if Path(d).exists()] == []
    assert [port for port in private["ports"] if _listening(port)] == []


def _fault(kind: str, observed: dict[str, object]) -> dict[str, object]:
    return {"label": kind, "kind": kind, "error": None, "recovery_s": 1.0, "observed": observed}


def test_node_fault_evidence_passes_when_it_bit_and_fails_when_it_did_not() -> None:
    bit = {
        "rabbitmq-leader-kill": {"killed": "c1", "leader before": "c1", "leader after": "c2"},
        "rabbitmq-node-kill": {"killed": "c3", "leader before": "c2", "leader after": "c2"},
        "redis-master-kill": {"failover (s)": 4.2},
        "postgres-failover": {"crash + promotion (s)": 1.1},
    }
    delivered = {"load running": True, "next delivery (s)": 0.5}
    assert {k: did_not_bite(_fault(k, v | delivered)) for k, v in bit.items()} == {
        k: [] for k in bit
    }
    missed = {
        "rabbitmq-leader-kill": {"killed": "c1", "leader before": "c1", "leader after": "c1"},
        "rabbitmq-node-kill": {"killed": "c2", "leader before": "c2", "leader after": "c1"},
        "redis-master-kill": {},
        "postgres-failover": {},
    }
    assert all(did_not_bite(_fault(k, v | delivered)) for k, v in missed.items())
    # No email after a fault while the load still ran: a stack that never came back.
    stuck = {"load running": True, "next delivery (s)": None}
    assert all(did_not_bite(_fault(k, v | stuck)) for k, v in bit.items())
    # After the load, no new registration: no email to expect.
    idle = {"load running": False, "next delivery (s)": None}
    assert {k: did_not_bite(_fault(k, v | idle)) for k, v in bit.items()} == {k: [] for k in bit}
