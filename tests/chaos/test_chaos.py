"""The chaos run at CI size, and the checks it relies on, shown to fail on what they must catch.

`make chaos` runs the full scenario (10,000 registrations over three minutes of faults); CI runs the
same scenario with fewer registrations on a schedule twice as fast, within a few minutes. The run
takes down only servers of its own (`chaos_servers.PrivateServers`), and shows the machine's
shared servers kept their start times and a connection held to each across the run.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

import pytest
from chaos_run import SCHEDULE, Config, Report, chaos, did_not_bite, judge, save, secret_hits
from chaos_servers import same_start

CI_N = 300
CI_SCALE = 0.5


_VICTIM = textwrap.dedent("""
    import json, sys, time
    sys.path[:0] = sys.argv[1:3]
    from chaos_servers import PrivateServers
    with PrivateServers(sys.argv[3]) as servers:
        postmaster = int((servers.pg.data_dir / "postmaster.pid").read_text().split()[0])
        print(json.dumps(servers.where() | {
            "pids": [postmaster, servers.redis.pid], "group": servers.rabbit.pid,
        }), flush=True)
        time.sleep(600)
""")


def _group_alive(group: int) -> bool:
    """Whether a live (not zombie) process of process group `group` exists."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[2]) == group and fields[0] != "Z":
            return True
    return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")  # a zombie (not reaped yet) is dead
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


@pytest.mark.e2e
@pytest.mark.timeout(300)
def test_a_killed_run_leaves_no_private_server_and_no_directory() -> None:
    """SIGKILL of a run holding its three private servers: their guards remove every one."""
    here = Path(__file__).resolve().parent
    argv = [sys.executable, "-c", _VICTIM, str(here.parents[1] / "tools"), str(here), "chaoskill1"]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True) as victim:
        try:
            assert victim.stdout is not None
            started = json.loads(victim.stdout.readline())
            assert all(_listening(port) for port in started["ports"][:3])
            assert _group_alive(started["group"])
        finally:
            victim.send_signal(signal.SIGKILL)

    def left() -> list[object]:
        return [
            *(d for d in started["dirs"] if Path(d).exists()),
            *(p for p in started["pids"] if _pid_alive(p)),
            *(["rabbitmq node"] if _group_alive(started["group"]) else []),
            *(port for port in started["ports"] if _listening(port)),
        ]

    deadline = time.monotonic() + 90
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
@pytest.mark.timeout(420)
def test_nothing_lost_nothing_duplicated_no_secret_leaked_under_chaos(
    tmp_path: Path, postgres_server: str, redis_server: str, amqp_server: str
) -> None:
    """N registrations through restarts, kills and outages: every effect exactly once, and the
    shared servers untouched (only the run's private servers went down)."""
    del postgres_server, redis_server, amqp_server  # the watched shared servers must be up
    report = chaos(Config(n=CI_N, scale=CI_SCALE, quiesce_timeout=150), log_dir=tmp_path / "logs")
    save(report, tmp_path, "chaos")
    print(report.table())  # noqa: T201  (the figures, in the test's output)

    assert report.failures == [], report.table()
    assert report.connections_closed > 0
    assert [f["kind"] for f in report.faults] == [f.kind for f in SCHEDULE]
    assert report.clients["connection_errors"] == 0  # the rolling restart dropped nothing
    shared = report.shared_servers
    assert shared["problems"] == []
    assert None not in shared["before"].values()
    assert all(same_start(shared["before"][k], shared["after"][k]) for k in shared["before"])
    assert set(shared["held"].values()) == {"kept"}
    private = report.private_servers
    assert len(private["dirs"]) == 3
    assert [d for d in private["dirs"] if Path(d).exists()] == []
    assert [port for port in private["ports"] if _listening(port)] == []


def test_secret_hits_finds_every_form_of_a_secret_and_unmasked_dsns(tmp_path: Path) -> None:
    secret = "s3cr3t/with+special=chars"  # noqa: S105  (a made-up value to find)
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "clean.log").write_text(
        '{"dsn": "postgresql://users:***@127.0.0.1:5432/users"}\n'
        '{"url": "amqp://users:%2A%2A%2A@127.0.0.1:5672/v"}\n'
    )
    (logs / "plain.log").write_text(f'{{"password": "{secret}"}}\n')
    (logs / "encoded.log").write_text(f'{{"url": "x?{quote(secret, safe="")}"}}\n')
    (logs / "dsn.log").write_text('{"dsn": "amqp://users:hunter2@127.0.0.1:5672/v"}\n')

    hits = secret_hits(logs, [secret])

    assert sorted(hit.split(":")[0] for hit in hits) == ["dsn.log", "encoded.log", "plain.log"]
    assert not any(secret in hit or "hunter2" in hit for hit in hits)


def _clean_report(n: int = 100, rejected: int = 2) -> Report:
    ok = n - rejected
    counts = {
        "users": n,
        "unexpected_users": 0,
        "events_rows": n,
        "events_sent": n,
        "events_on_wire_distinct": n,
        "deliveries": ok,
        "deliveries_distinct_events": ok,
        "emails": ok,
        "emails_distinct": ok,
        "emails_twice": 0,
        "emails_to_rejected": 0,
        "emails_unexpected": 0,
        "sent_outbox_rows_sent": ok,
        "sent_on_wire_distinct": ok,
        "dlq_total": rejected,
        "dlq_distinct": rejected,
        "dlq_copies": 0,
        "dlq_address_rejected": rejected,
        "dlq_other_count": 0,
        "lost": {"emails": 0},
        "duplicated": {"emails": 0},
    }
    return Report(
        run_id="chaosunit",
        n=n,
        rejected=rejected,
        scale=1.0,
        load_seconds=1.0,
        quiesce_seconds=0.5,
        counts=counts,
        clients={"gave_up": 0, "unexpected": {}},
        faults=[],
        connections_closed=1,
        redeliveries={},
        fake_mail_replays=0,
        not_ready_at_end=[],
        server_errors_not_503=0,
        unavailable_outside_windows=0,
        secret_hits=[],
        servers_restored=[],
    )


def test_judge_passes_a_clean_run_and_fails_each_kind_of_difference(tmp_path: Path) -> None:
    clean = _clean_report()
    assert judge(clean) == []
    counts = clean.counts

    broken = {
        "an email sent twice": replace(
            clean, counts=counts | {"emails": 99, "emails_twice": 1, "duplicated": {"emails": 1}}
        ),
        "a lost delivery": replace(
            clean, counts=counts | {"deliveries": 97, "lost": {"deliveries": 1}}
        ),
        "a DLQ message too many": replace(
            clean, counts=counts | {"dlq_distinct": 3, "dlq_other_count": 1}
        ),
        "a DLQ message without its reason": replace(
            clean, counts=counts | {"dlq_address_rejected": 1, "dlq_other_count": 1}
        ),
        "a 500": replace(clean, server_errors_not_503=1),
        "a 503 outside the outages": replace(clean, unavailable_outside_windows=1),
        "a process not ready": replace(clean, not_ready_at_end=["users-relay: 503"]),
        "no quiescence": replace(clean, quiesce_seconds=None),
        "a secret in a log": replace(clean, secret_hits=["users-api.log:3: a secret"]),
        "a fault without recovery": replace(
            clean, faults=[{"label": "x", "kind": "kill", "error": None, "recovery_s": None}]
        ),
        "a shared server restarted": replace(
            clean, shared_servers={"problems": ["shared redis start changed: a -> b"]}
        ),
        "a connection error": replace(clean, clients={"gave_up": 0, "connection_errors": 1}),
        "an email in the record, not in the journal": replace(
            clean, counts=counts | {"record_not_in_journal": 1}
        ),
        "a memory alarm that blocked nobody": replace(
            clean, faults=[_fault("memory-alarm", {"readiness said blocked": []})]
        ),
        "a mail fault that injected nothing": replace(
            clean, faults=[_fault("mail-429", {"injected (rate_limit)": 0})]
        ),
        "a restart that kept the record": replace(
            clean, faults=[_fault("mail-restart", {"record before": 5, "record after": 5})]
        ),
        "a rollout whose old replica failed": replace(
            clean,
            faults=[_fault("users-api-rollout", {"old replicas' exit statuses": [0, 1]})],
        ),
    }
    assert {name for name, report in broken.items() if not judge(report)} == set()
    # A second copy of a message already dead-lettered is at-least-once, not a second effect.
    assert judge(replace(clean, counts=counts | {"dlq_total": 3, "dlq_copies": 1})) == []

    table = save(clean, tmp_path, "unit")
    assert "result: PASS" in table.read_text()
    assert json.loads((tmp_path / "unit.json").read_text())["n"] == 100


def _fault(kind: str, observed: dict[str, object]) -> dict[str, object]:
    return {"label": kind, "kind": kind, "error": None, "recovery_s": 1.0, "observed": observed}


def test_each_new_fault_passes_with_its_evidence() -> None:
    evidence = {
        "memory-alarm": {"readiness said blocked": ["users-relay"]},
        "mail-slow": {"injected (latency)": 3},
        "mail-5xx": {"injected (error)": 2},
        "mail-429": {"injected (rate_limit)": 7},
        "mail-restart": {"record before": 40, "record after": 0},
        "users-api-rollout": {"old replicas' exit statuses": [0, 0], "refused": 0},
    }
    assert {kind: did_not_bite(_fault(kind, seen)) for kind, seen in evidence.items()} == {
        kind: [] for kind in evidence
    }


def test_same_start_tells_a_restarted_server_from_a_second_of_uptime_rounding() -> None:
    before = "2026-12-06T14:42:40+00:00 (run_id d609a8c00d9e)"
    assert same_start(before, "2026-12-06T14:42:41+00:00 (run_id d609a8c00d9e)")
    assert not same_start(before, "2026-12-06T14:42:40+00:00 (run_id 0123456789ab)")
    assert not same_start(before, "2026-12-06T14:50:02+00:00 (run_id d609a8c00d9e)")
    assert not same_start(before, None)
    assert same_start("2026-12-06T14:42:38+00:00", "2026-12-06T14:42:38+00:00")
