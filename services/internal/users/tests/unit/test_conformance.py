"""The service's layering and the checker's rules, run over the service as CI runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[5]
BIN = Path(sys.executable).parent
SERVICE = "services/internal/users/"
CONTRACTS = ("users-domain", "users-transport", "users-adapters", "users-adapters-independent")


def test_the_import_contracts_of_users_hold() -> None:
    """ARCH-1: the domain imports no infrastructure; transport and adapters stay apart."""
    command = [str(BIN / "lint-imports"), "--no-cache"]
    for contract in CONTRACTS:
        command += ["--contract", contract]

    done = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in done.stdout


@pytest.mark.postgres
def test_svcinfra_check_finds_nothing_in_the_service(postgres_server: str) -> None:
    """Every mechanical rule (ARCH-1, PG-2/3/6/8/9/10/12, RD, MQ-1, CF) over the service's files,
    its queries prepared against its migrated schema."""
    done = subprocess.run(
        [str(BIN / "svcinfra"), "check", ".", "--format", "json", "--db", postgres_server],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    # The report is the JSON array; the temporary databases' migration log lines precede it.
    lines = done.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("["))
    findings = json.loads("\n".join(lines[start:]))

    ours = [f for f in findings if str(f["path"]).startswith(SERVICE)]
    assert ours == [], json.dumps(ours, indent=1)
