"""The wheels of svcinfra and of each service build bit-for-bit reproducibly (CI-1).

Each project is copied to two different temporary folders (fresh mtimes, different paths) and
built there with the build stage's command, `pip wheel --no-deps --no-build-isolation`, with one
SOURCE_DATE_EPOCH; the two wheels must have the same sha256.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECTS = {
    "svcinfra": "libs/python/svcinfra",
    "users": "services/internal/users",
    "notifications": "services/internal/notifications",
    "fake-mail": "services/dev/fake-mail",
}
# 2021-01-01T00:00:00Z: not hatchling's own default, so the test sees that the variable is used.
EPOCH = 1609459200
_IGNORE = shutil.ignore_patterns(
    "__pycache__", "*.pyc", ".pytest_cache", "*.egg-info"
)  # .dockerignore's


def build_wheel(project: str, workdir: Path) -> Path:
    """Copy `project` into `workdir` and build its wheel there; return the wheel."""
    source = workdir / "src" / project
    shutil.copytree(ROOT / project, source, ignore=_IGNORE)
    out = workdir / "wheels"
    environ = {**os.environ, "SOURCE_DATE_EPOCH": str(EPOCH), "PIP_NO_INDEX": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-cache-dir",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
        timeout=110,
    )
    assert result.returncode == 0, result.stderr
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.mark.parametrize("project", PROJECTS)
def test_the_wheel_builds_bit_for_bit_twice(project: str, tmp_path: Path) -> None:
    """Two builds from two copies give one sha256; the archive dates are SOURCE_DATE_EPOCH's."""
    first = build_wheel(PROJECTS[project], tmp_path / "first")
    second = build_wheel(PROJECTS[project], tmp_path / "second")
    assert first.name == second.name
    digest = hashlib.sha256(first.read_bytes()).hexdigest()
    assert hashlib.sha256(second.read_bytes()).hexdigest() == digest
    stamp = datetime.fromtimestamp(EPOCH, tz=UTC).timetuple()[:6]
    with zipfile.ZipFile(first) as wheel:
        names = wheel.namelist()
        assert {info.date_time for info in wheel.infolist()} == {stamp}
    package = project.replace("-", "_")
    assert f"{package}/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
