"""Time `svcinfra check` on this repository and on generated monorepos of 50, 100 and 200 services.

Each generated service is a copy of the checker's good sample service (`users`: domain, ports,
Postgres repository with .sql queries, goose migration, AsyncAPI contract, HTTP client adapter,
Dockerfile), renamed `svc_NNN`, all declared in one services.yaml. The cost should grow about
linearly with the number of services. Run: `.venv/bin/python bench/check_bench.py`.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "libs/python/svcinfra/tests/assets/check/good/services/internal/users"
SVCINFRA = Path(sys.executable).parent / "svcinfra"


def generate(target: Path, services: int) -> Path:
    """Write a monorepo of `services` copies of the sample service under `target`."""
    entries = []
    for index in range(services):
        name = f"svc_{index:03d}"
        folder = target / "services" / "internal" / name.replace("_", "-")
        for source in SAMPLE.rglob("*"):
            if source.is_dir() or "__pycache__" in source.parts:
                continue
            rel = source.relative_to(SAMPLE).as_posix().replace("users", name)
            dest = folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(source.read_text(encoding="utf-8").replace("users", name))
        service = name.replace("_", "-")
        entries.append(
            f"  - name: {service}\n"
            f"    manifests: [{{path: services/internal/{service}/Dockerfile}}]\n"
        )
    (target / "services.yaml").write_text("project: bench\nservices:\n" + "".join(entries))
    return target


def timed(path: Path, *extra: str) -> tuple[float, int]:
    """Wall time of one `svcinfra check PATH` run, and its exit code."""
    started = time.perf_counter()
    done = subprocess.run(  # noqa: S603  (our own CLI)
        [str(SVCINFRA), "check", str(path), "--brief", *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:])
    return elapsed, done.returncode


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", default="50,100,200")
    args = parser.parse_args()
    rows = []
    seconds, code = timed(ROOT)
    rows.append(("this repository (0 services)", 0, seconds, code))
    for size in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory(prefix="check-bench-") as scratch:
            repo = generate(Path(scratch) / "repo", size)
            seconds, code = timed(repo)
            rows.append((f"generated monorepo ({size} services)", size, seconds, code))
    print(f"| {'tree':34} | services | seconds | ms/service | exit |")
    print(f"|{'-' * 36}|----------|---------|------------|------|")
    for label, size, seconds, code in rows:
        per = f"{seconds / size * 1000:10.1f}" if size else f"{'-':>10}"
        print(f"| {label:34} | {size:8} | {seconds:7.2f} | {per} | {code:4} |")
    if shutil.which("nproc"):
        print("(wall time of the CLI process, one run each, 2-core machine)")


if __name__ == "__main__":
    main()
