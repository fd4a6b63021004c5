"""Instructions per `GET /api/v1/users/{id}` (cache hit), users API vs the bare FastAPI app.

    .venv/bin/python scripts/get_instructions.py [--requests 2000] [--variant NAME ...]

Wall-clock req/s moves with whatever else runs on the machine; the instructions a server
executes per request do not. Each target is served under `valgrind --tool=callgrind` (one
process, `svcinfra.app.AsgiServer` as `users serve` runs it); after a warm-up the counters are
zeroed (`callgrind_control -z`), `--requests` GETs are sent on one keep-alive connection, and
the counters are dumped: instructions / requests. An idle window of the same length is
measured too and subtracted (the near cache's heartbeat, the event loop's timers).

Targets: `bare` (bench/service_bench.py's `serve_bare`), `users` (the users API over a fresh
database and the loopback Redis, its near cache on, tracing configured with a 10% ratio as
ENV=prod samples), and ablations of the users app (`--variant`): `no-telemetry` (without
RequestTelemetry), `no-bodylimit`, `no-middleware` (neither).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PG = "postgresql://postgres@127.0.0.1:5432"
IDLE_SECONDS = 10.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the servers --------------------------------------------------------------------------------


async def _users_server(
    port: int, db_name: str, namespace: str, ids_path: Path, variant: str
) -> None:
    from users.app import Wiring, build_app  # noqa: PLC0415

    from svcinfra.app import AsgiServer  # noqa: PLC0415
    from svcinfra.cache import KeyNamespace, NearCache, create_cache_client  # noqa: PLC0415
    from svcinfra.config import PostgresSettings, RedisSettings  # noqa: PLC0415
    from svcinfra.observability import configure_tracing  # noqa: PLC0415
    from svcinfra.postgres import Database  # noqa: PLC0415
    from svcinfra.testing import metric_value  # noqa: PLC0415

    configure_tracing(service="users", env="prod", ratio=0.1, otlp_endpoint=None)
    settings = PostgresSettings.model_validate(
        {"host": "127.0.0.1", "port": 5432, "user": "postgres", "password": "", "db": db_name}
    )
    db = await Database.connect(settings)
    cache = create_cache_client(RedisSettings.model_validate({"host": "127.0.0.1"}))
    app = build_app(db, cache, Wiring(namespace=KeyNamespace(namespace, "profile")))
    drop = {
        "no-telemetry": {"RequestTelemetry"},
        "no-bodylimit": {"BodyLimitMiddleware"},
        "no-middleware": {"RequestTelemetry", "BodyLimitMiddleware"},
    }.get(variant, set())
    app.user_middleware = [
        m for m in app.user_middleware if getattr(m.cls, "__name__", "") not in drop
    ]
    # Valgrind runs the process ~50x slower: the tracking connection's heartbeat would time
    # out and flush the near layer, and the GETs would measure Redis hits instead.
    near = app.state.users._cache.cache.near  # noqa: SLF001
    near.options = NearCache(heartbeat=5, max_silence=120)

    @app.get("/_near_hits")
    async def near_hits() -> float:
        return metric_value("svcinfra_cache_near_total", namespace=near._name, event="hit")  # noqa: SLF001

    service = app.state.users
    ids = []
    for i in range(100):
        name = f"c{secrets.token_hex(3)}_{i}"
        user = await service.register(
            email=f"{name}@example.com", username=name, display_name=f"Ünïcode {name} ☃"
        )
        ids.append(str(user.id))
    await asyncio.to_thread(ids_path.write_text, json.dumps(ids))
    await AsgiServer(app, host="127.0.0.1", port=port).serve()


def serve(argv: list[str]) -> None:
    """Serve one target (`--serve bare PORT BODIES` or `--serve users PORT DB NS IDS VARIANT`)."""
    kind, port = argv[0], int(argv[1])
    if kind == "bare":
        sys.path.insert(0, str(ROOT / "bench"))
        from service_bench import serve_bare  # noqa: PLC0415

        serve_bare(port, Path(argv[2]), with_redis=False)
    else:
        asyncio.run(_users_server(port, argv[2], argv[3], Path(argv[4]), argv[5]))


# -- the driver ---------------------------------------------------------------------------------


_BODIES: dict[str, object] = {}


def _get_all(port: int, ids: list[str], count: int) -> tuple[int, list[bytes]]:
    """`count` GETs on one keep-alive connection; returns the number of 200s and the bodies."""
    ok, bodies = 0, []
    with socket.create_connection(("127.0.0.1", port)) as sock:
        file = sock.makefile("rb")
        for i in range(count):
            path = f"/api/v1/users/{ids[i % len(ids)]}"
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            status = file.readline()
            length = 0
            while (line := file.readline()) not in {b"\r\n", b""}:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            body = file.read(length)
            ok += status.split()[1] == b"200"
            if i < len(ids):
                bodies.append(body)
    return ok, bodies


def _near_hits(port: int) -> float:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /_near_hits HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return float(data.split(b"\r\n\r\n", 1)[1])


def _wait(port: int, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            time.sleep(0.5)
        else:
            return
    raise SystemExit(f"port {port} never opened")


def _control(flag: str, pid: int) -> None:
    subprocess.run(["callgrind_control", flag, str(pid)], check=True, capture_output=True)  # noqa: S603, S607


def _instructions(out: Path, before: set[Path]) -> int:
    dumps = sorted(set(out.parent.glob(out.name + "*")) - before, key=lambda p: p.stat().st_mtime)
    text = dumps[-1].read_text(errors="replace")
    match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.MULTILINE)
    assert match, dumps[-1]  # noqa: S101
    return int(match.group(1))


def measure(
    command: list[str], port: int, ids_file: Path | None, ids: list[str] | None, count: int
) -> dict[str, float]:
    """Serve `command` under callgrind; its instructions idle and over `count` GETs."""
    out = Path(tempfile.mkdtemp()) / "callgrind.out"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    proc = subprocess.Popen(  # noqa: S603
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", *command],  # noqa: S607
        env=env,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(port)
        if ids is None:
            assert ids_file is not None  # noqa: S101
            ids = json.loads(ids_file.read_text())
        _, bodies = _get_all(port, ids, 2 * len(ids) + 200)  # warm: every profile kept near
        _BODIES.update({i: json.loads(b) for i, b in zip(ids, bodies, strict=True)})
        results: dict[str, float] = {}
        near_before = 0.0
        for label, n in (("idle", 0), ("load", count)):  # idle: 10 s, scaled to the load's
            before = set(out.parent.glob(out.name + "*"))
            _control("-z", proc.pid)
            started = time.monotonic()
            if n:
                ok, _ = _get_all(port, ids, n)
                assert ok == n, (ok, n)  # noqa: S101
                results["seconds"] = time.monotonic() - started
            else:
                time.sleep(IDLE_SECONDS)
            _control("-d", proc.pid)
            results[label] = _instructions(out, before)
            if n and ids_file is not None:  # the users API: how many GETs the near layer served
                results["near_hits"] = _near_hits(port) - near_before
            near_before = _near_hits(port) if ids_file is not None else 0.0
        # what the process does per second of wall time whatever the load (timers, the near
        # cache's heartbeat), over the load's window (valgrind stretches it), is not per request
        background = results["idle"] / IDLE_SECONDS * results["seconds"]
        results["per_request"] = (results["load"] - background) / count
        return results
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def main() -> None:
    """Measure every target; print instructions per request and the bare/ours ratio."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--variant", nargs="*", default=[])
    parser.add_argument("--skip-bare", action="store_true")
    parser.add_argument("--serve", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    import asyncpg  # noqa: PLC0415

    db_name = f"getpath_{secrets.token_hex(4)}"

    async def create() -> None:
        conn = await asyncpg.connect(f"{PG}/postgres")
        await conn.execute(f'CREATE DATABASE "{db_name}"')
        await conn.close()
        sys.path.insert(0, str(ROOT / "services/internal/users/tests"))
        from importlib.resources import files  # noqa: PLC0415

        from svcinfra.postgres.migrate import Migrator, load_migrations  # noqa: PLC0415

        await Migrator(load_migrations(files("users.cli") / "migrations"), f"{PG}/{db_name}").up()

    async def drop() -> None:
        conn = await asyncpg.connect(f"{PG}/postgres")
        await conn.execute(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)')
        await conn.close()

    asyncio.run(create())
    me = [sys.executable, __file__, "--serve"]
    rows = {}
    try:
        ids_file = Path(tempfile.mkstemp(suffix=".json")[1])
        for variant in ["users", *args.variant]:
            port = _free_port()
            ns = f"getpath{secrets.token_hex(3)}"
            rows[variant] = measure(
                [*me, "users", str(port), db_name, ns, str(ids_file), variant],
                port,
                ids_file,
                None,
                args.requests,
            )
            print(variant, json.dumps(rows[variant]), flush=True)
        if not args.skip_bare:
            ids = json.loads(ids_file.read_text())
            port = _free_port()
            bodies_file = Path(tempfile.mkstemp(suffix=".json")[1])
            bodies_file.write_text(json.dumps(_BODIES))
            rows["bare"] = measure(
                [*me, "bare", str(port), str(bodies_file)], port, None, ids, args.requests
            )
            print("bare", json.dumps(rows["bare"]), flush=True)
    finally:
        asyncio.run(drop())
    if "bare" in rows:
        bare = rows["bare"]["per_request"]
        for name, row in rows.items():
            per = row["per_request"]
            print(f"{name:16} {per:12,.0f} instr/request   bare/ours {bare / per:.3f}")


if __name__ == "__main__":
    main()
