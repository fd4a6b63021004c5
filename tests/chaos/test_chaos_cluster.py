"""The clustered chaos run at CI size, and its fault evidence shown to fail on what it must catch.

`make chaos-cluster` runs the full scenario (5,000 registrations); CI runs the same scenario with
fewer registrations on a faster schedule. The topology is private (a three-node RabbitMQ
cluster, a PostgreSQL primary with a standby, Redis with sentinels), removed afterwards; the
machine's shared servers keep their start times and a connection held to each.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from chaos_cluster import SCHEDULE, ClusterConfig, chaos_cluster, did_not_bite, table
from chaos_run import save
from chaos_servers import same_start

CI_N = 300
CI_SCALE = 0.4


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
    save(report, tmp_path, "chaos-cluster")
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
