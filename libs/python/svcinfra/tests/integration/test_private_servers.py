"""The private PostgreSQL and Redis servers of the test kit: outages without touching shared ones.

Each test starts its own server on a port of its own and shows what an outage test relies on:
stop, start, restart and kill behave as on a real server, data survives what it must, and nothing
is left behind: not after the `with` block, not after an error in it, not after the test process
itself is SIGKILLed (the guard process removes the server and its directory).
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
from pathlib import Path

import asyncpg
import pytest
import redis

from svcinfra.testing import (
    PrivatePostgres,
    PrivateRedis,
    PrivateRedisCluster,
    PrivateServerError,
    free_port,
)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie is dead: its parent has not reaped it yet
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


async def _fetchval(dsn: str, query: str) -> object:
    connection = await asyncpg.connect(dsn, timeout=10)
    try:
        return await connection.fetchval(query)
    finally:
        await connection.close()


async def test_private_postgres_restarts_and_recovers_from_a_crash_with_its_data() -> None:
    """restart drops sessions and keeps data; kill (immediate) recovers on start; close removes."""
    with PrivatePostgres(free_port()) as pg:
        root = pg.root
        assert root is not None
        assert pg.dsn == f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        session = await asyncpg.connect(pg.dsn, timeout=10)
        await session.execute("CREATE TABLE t (v int); INSERT INTO t VALUES (1)")
        started = await session.fetchval("SELECT pg_postmaster_start_time()")

        pg.restart()
        with pytest.raises((asyncpg.PostgresError, OSError, asyncpg.InterfaceError)):
            await session.fetchval("SELECT 1")
        assert await _fetchval(pg.dsn, "SELECT pg_postmaster_start_time()") != started

        pg.kill()
        assert not pg.running
        with pytest.raises(ConnectionRefusedError):
            await asyncpg.connect(pg.dsn, timeout=5)
        pg.start()
        assert await _fetchval(pg.dsn, "SELECT sum(v) FROM t") == 1
        assert "database system was interrupted" in pg.log_path.read_text()
    assert not root.exists()
    assert not _listening(pg.port)


def test_private_redis_stops_empty_and_with_persist_keeps_its_data() -> None:
    """stop refuses connections, start comes back empty (a cache); persist=True keeps the data."""
    with PrivateRedis(free_port()) as cache:
        client = redis.Redis.from_url(cache.url, socket_timeout=5)
        client.set("k", "v")
        cache.stop()
        assert not cache.running
        with pytest.raises(redis.ConnectionError):
            client.get("k")
        cache.start()
        assert client.get("k") is None
        client.close()
    with PrivateRedis(free_port(), persist=True) as cache:
        client = redis.Redis.from_url(cache.url, socket_timeout=5)
        client.set("k", "v")
        cache.restart()
        assert client.get("k") == b"v"
        pid = cache.pid
        cache.kill()
        assert pid is not None
        assert not _alive(pid)
        client.close()


def test_an_error_inside_the_block_still_removes_the_servers() -> None:
    """A failing test body stops both servers and removes their directories."""
    roots: list[Path] = []
    ports = (free_port(), free_port())
    with (  # noqa: PT012  (the failure must happen while the servers run)
        pytest.raises(RuntimeError, match="the test failed"),
        PrivatePostgres(ports[0]) as pg,
        PrivateRedis(ports[1]) as cache,
    ):
        roots += [pg.root, cache.root]  # type: ignore[list-item]
        raise RuntimeError("the test failed")
    assert roots
    assert not any(root.exists() for root in roots)
    assert not any(_listening(port) for port in ports)


def test_a_private_redis_cluster_forms_and_leaves_nothing_behind() -> None:
    """Three masters serving every slot; an error in the block stops them all, removes their
    directories and frees their ports, the cluster-bus ports too (issue 20).
    """
    roots: list[Path] = []
    ports: list[int] = []
    with (  # noqa: PT012  (the failure must happen while the cluster runs)
        pytest.raises(RuntimeError, match="the test failed"),
        PrivateRedisCluster() as cluster,
    ):
        roots += [node.root for node in cluster.nodes]  # type: ignore[misc]
        ports += [node.port for node in cluster.nodes]
        ports += [
            int(n.extra_args[n.extra_args.index("--cluster-port") + 1]) for n in cluster.nodes
        ]
        client = redis.RedisCluster(host="127.0.0.1", port=cluster.nodes[0].port)
        try:
            masters = client.cluster_nodes()
            assert sum("master" in node["flags"] for node in masters.values()) == 3
            assert client.set("a", 1)
            assert client.mget_nonatomic(["a", "b", "c"]) == [b"1", None, None]
        finally:
            client.close()
        assert all(_listening(port) for port in ports)
        raise RuntimeError("the test failed")
    assert len(roots) == 3
    assert not any(root.exists() for root in roots)
    assert not any(_listening(port) for port in ports)


def test_a_port_in_use_is_a_clear_error_and_leaves_nothing_behind() -> None:
    """A server that cannot bind its port fails setup with the port in the message."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cache = PrivateRedis(port)
        with pytest.raises(PrivateServerError, match=f"port {port}"):
            cache.setup()
        pg = PrivatePostgres(port)
        with pytest.raises(PrivateServerError, match="could not"):
            pg.setup()
    assert cache.root is None
    assert pg.root is None


_VICTIM = textwrap.dedent("""
    import json, sys, time
    from svcinfra.testing import PrivatePostgres, PrivateRedis
    pg = PrivatePostgres(int(sys.argv[1])).setup()
    cache = PrivateRedis(int(sys.argv[2])).setup()
    postmaster = int((pg.data_dir / "postmaster.pid").read_text().split()[0])
    print(json.dumps({"roots": [str(pg.root), str(cache.root)],
                      "pids": [postmaster, cache.pid]}), flush=True)
    time.sleep(600)
""")


@pytest.mark.timeout(180)
def test_a_killed_test_process_leaves_no_server_and_no_directory() -> None:
    """SIGKILL of the process that started the servers: the guards stop them and remove all."""
    ports = (free_port(), free_port())
    with subprocess.Popen(
        [sys.executable, "-c", _VICTIM, *map(str, ports)],
        stdout=subprocess.PIPE,
        text=True,
    ) as victim:
        try:
            assert victim.stdout is not None
            started = json.loads(victim.stdout.readline())
            assert all(_listening(port) for port in ports)
            assert all(_alive(pid) for pid in started["pids"])
        finally:
            victim.send_signal(signal.SIGKILL)

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (
        any(Path(root).exists() for root in started["roots"])
        or any(_alive(pid) for pid in started["pids"])
        or any(_listening(port) for port in ports)
    ):
        time.sleep(0.2)
    assert [root for root in started["roots"] if Path(root).exists()] == []
    assert [pid for pid in started["pids"] if _alive(pid)] == []
    assert [port for port in ports if _listening(port)] == []
