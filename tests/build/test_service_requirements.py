"""The images' requirement files pin exactly what runs, at the versions the tests ran (CI-1)."""

from __future__ import annotations

import importlib.util
import re
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

if TYPE_CHECKING:
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = "svcinfra"
# requirement file -> (distribution whose run-time closure it pins, distributions it leaves out)
FILES = {
    "services/internal/users/requirements.txt": ("users", {"users", LIBRARY}),
    "services/internal/notifications/requirements.txt": (
        "notifications",
        {"notifications", LIBRARY},
    ),
    "services/dev/fake-mail/requirements.txt": ("fake-mail", {"fake-mail", LIBRARY}),
    "requirements/build.txt": ("hatchling", set()),
    "requirements/reload.txt": ("watchfiles", set()),
}
_ENTRY = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")
_HASH = re.compile(r"--hash=sha256:(?P<hash>[0-9a-f]{64})")


def pins(path: Path) -> dict[str, tuple[str, set[str]]]:
    """Return name -> (version, hashes) of a pip-compile output."""
    out: dict[str, tuple[str, set[str]]] = {}
    current: str | None = None
    for line in path.read_text().splitlines():
        if entry := _ENTRY.match(line):
            current = canonicalize_name(entry.group("name"))
            out[current] = (entry.group("version"), set())
        for found in _HASH.finditer(line):
            assert current is not None, f"{path}: a hash before any requirement"
            out[current][1].add(found.group("hash"))
    return out


def closure(name: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """Return the distributions `name[extras]` needs at run time, itself included."""
    seen: set[str] = set()
    todo = [(canonicalize_name(name), extras)]
    while todo:
        dist, wanted = todo.pop()
        key = f"{dist}[{','.join(sorted(wanted))}]"
        if key in seen:
            continue
        seen.add(key)
        for text in metadata.distribution(dist).requires or []:
            requirement = Requirement(text)
            envs = [{"extra": extra} for extra in wanted] or [{"extra": ""}]
            if requirement.marker and not any(requirement.marker.evaluate(e) for e in envs):
                continue
            todo.append((canonicalize_name(requirement.name), frozenset(requirement.extras)))
    return {key.partition("[")[0] for key in seen}


@pytest.fixture(scope="module")
def dev_pins() -> dict[str, tuple[str, set[str]]]:
    return pins(ROOT / "requirements/dev.txt")


@pytest.mark.parametrize("path", FILES)
def test_pins_exactly_the_run_time_closure(path: str) -> None:
    """Every distribution the code needs at run time is pinned, and nothing else."""
    top, left_out = FILES[path]
    expected = closure(top) - {canonicalize_name(n) for n in left_out}
    assert set(pins(ROOT / path)) == expected


@pytest.mark.parametrize("path", FILES)
def test_versions_and_hashes_are_those_of_the_dev_venv(
    path: str, dev_pins: dict[str, tuple[str, set[str]]]
) -> None:
    """Same version as requirements/dev.txt and the installed venv; hashes, all known to dev.txt."""
    for name, (version, hashes) in pins(ROOT / path).items():
        assert version == metadata.version(name), name
        assert version == dev_pins[name][0], name
        assert hashes, f"{name} has no hash"
        assert hashes <= dev_pins[name][1], f"{name}: a hash requirements/dev.txt does not list"


@pytest.mark.parametrize("path", FILES)
def test_no_index_and_no_absolute_path_is_recorded(path: str) -> None:
    """The files name no index, no find-links and no path of this machine."""
    text = (ROOT / path).read_text()
    assert not re.search(
        r"^\s*(-i|-f|--index-url|--extra-index-url|--find-links|--trusted-host)", text, re.MULTILINE
    )
    assert "://" not in text
    assert not re.search(r"(^|\s)/\w", text), "an absolute path"


def _lock_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "lock_services", ROOT / "scripts/lock_services.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "folder", [str(Path(p).parent) for p in FILES if p.startswith("services/")]
)
def test_the_inputs_follow_the_pyproject_files(folder: str) -> None:
    """requirements.in is what scripts/lock_services.py derives from the pyproject files today."""
    lock = _lock_script()
    lines = (ROOT / folder / "requirements.in").read_text().splitlines()
    requirements = [line for line in lines if line and not line.startswith(("#", "-c"))]
    assert requirements == lock.service_requirements(Path(folder))


def test_the_closure_follows_extras() -> None:
    """The walk above sees extras: svcinfra[postgres] needs asyncpg, svcinfra alone does not."""
    assert "asyncpg" in closure(LIBRARY, frozenset({"postgres"}))
    assert "asyncpg" not in closure(LIBRARY)
