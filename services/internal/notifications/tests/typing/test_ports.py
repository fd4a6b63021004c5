"""The adapters implement the domain's ports: mypy --strict on `ports_conformance.py`."""

from __future__ import annotations

from pathlib import Path

from mypy import api


def test_every_adapter_satisfies_its_port() -> None:
    """mypy finds no error in the port assignments (a changed port or adapter would)."""
    module = Path(__file__).with_name("ports_conformance.py")
    stdout, stderr, status = api.run(["--strict", "--no-error-summary", str(module)])
    assert status == 0, stdout + stderr
