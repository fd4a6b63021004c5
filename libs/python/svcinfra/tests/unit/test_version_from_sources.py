"""svcinfra imports from its sources alone, as a dev stage runs it from CODE_ROOT (CI-4)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def test_imports_without_installed_metadata() -> None:
    """Without site-packages (python -S), no dist-info is found: the version says "source"."""
    result = subprocess.run(
        [sys.executable, "-S", "-c", "import svcinfra; print(svcinfra.__version__)"],
        env={"PYTHONPATH": str(SRC)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0+source"
