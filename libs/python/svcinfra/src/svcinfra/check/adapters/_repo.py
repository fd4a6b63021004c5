"""The checked repository: its files, its services and their packages, read once and cached.

Every rule reads through one `Repo`, so a file is read and parsed once however many rules look
at it; that keeps the cost of a run linear in the size of the repository.
"""

from __future__ import annotations

import ast
import os
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from svcinfra.check._errors import CheckConfigError

# Folders that hold no source of the repository's own: tool caches, environments, build output.
_SKIP_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "node_modules",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        ".import_linter_cache",
        ".tox",
        ".make",
        "build",
        "dist",
    }
)
ZONES = ("internal", "external", "staff", "jobs", "dev")


@dataclass(frozen=True, slots=True)
class Service:
    """A service folder `services/<zone>/<name>/` and its Python package.

    Attributes:
        rel: the folder relative to the root (`services/internal/users`).
        zone: `internal`, `external`, `staff`, `jobs` or `dev` (or another folder name).
        name: the folder's name.
        root: the folder's absolute path.
        package: the import name of its package (`users`), or None when it has none.
        package_dir: the package's folder (`<root>/src/users`), or None.
        pyproject: its parsed `pyproject.toml`, or an empty mapping.
    """

    rel: str
    zone: str
    name: str
    root: Path
    package: str | None
    package_dir: Path | None
    pyproject: dict[str, Any] = field(repr=False)

    @property
    def declaration(self) -> dict[str, Any]:
        """Its `[tool.svcinfra]` table, or an empty mapping."""
        table = self.pyproject.get("tool", {}).get("svcinfra", {})
        return table if isinstance(table, dict) else {}


class Repo:
    """Read-only access to the checked tree, with caches shared by every rule."""

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise CheckConfigError(f"{root}: not a folder; give the repository's root")
        self.root = root.resolve()
        self._files: list[Path] | None = None
        self._texts: dict[Path, str | None] = {}
        self._trees: dict[Path, ast.Module | None] = {}
        self._services: tuple[Service, ...] | None = None
        self._by_service: dict[str, list[Path]] | None = None
        self.memo: dict[tuple[str, str], object] = {}
        """Results that several rules share (a service's contract), keyed by (what, service)."""
        self.unreadable: dict[str, tuple[int, str]] = {}
        """Files that could not be decoded or parsed: path -> (line, reason)."""

    def rel(self, path: Path) -> str:
        """The path relative to the root, with `/` separators."""
        return path.relative_to(self.root).as_posix()

    def files(self) -> list[Path]:
        """Every file of the repository, sorted; caches, environments and test assets left out."""
        if self._files is None:
            found: list[Path] = []
            for folder, dirs, names in os.walk(self.root):
                here = Path(folder)
                dirs[:] = sorted(
                    name
                    for name in dirs
                    if name not in _SKIP_DIRS
                    and not name.endswith(".egg-info")
                    # sample repositories of tests break rules on purpose
                    and not (name == "assets" and here.name == "tests")
                )
                found.extend(here / name for name in sorted(names))
            self._files = found
        return self._files

    def text(self, path: Path) -> str | None:
        """The file's text, or None when it is not UTF-8 (recorded in `unreadable`)."""
        if path not in self._texts:
            try:
                self._texts[path] = path.read_text(encoding="utf-8")
            except UnicodeDecodeError as exc:
                self.unreadable[self.rel(path)] = (0, f"not UTF-8 ({exc.reason})")
                self._texts[path] = None
        return self._texts[path]

    def tree(self, path: Path) -> ast.Module | None:
        """The file's Python syntax tree, or None when it does not parse (recorded)."""
        if path not in self._trees:
            text = self.text(path)
            tree = None
            if text is not None:
                try:
                    tree = ast.parse(text, filename=str(path))
                except SyntaxError as exc:
                    self.unreadable[self.rel(path)] = (exc.lineno or 0, f"syntax error: {exc.msg}")
            self._trees[path] = tree
        return self._trees[path]

    @property
    def services(self) -> tuple[Service, ...]:
        """Every `services/<zone>/<name>/` folder, sorted."""
        if self._services is None:
            base = self.root / "services"
            found: list[Service] = []
            if base.is_dir():
                for zone in sorted(p for p in base.iterdir() if p.is_dir()):
                    found.extend(
                        _service(self, folder)
                        for folder in sorted(zone.iterdir())
                        if folder.is_dir() and folder.name not in _SKIP_DIRS
                    )
            self._services = tuple(found)
        return self._services

    def service_files(self, service: Service, suffix: str = ".py") -> list[Path]:
        """The service package's files ending in `suffix`, its tests left out."""
        if service.package_dir is None:
            return []
        if self._by_service is None:
            # one pass over the tree, not one per service: keeps a run linear in its size
            grouped: dict[str, list[Path]] = {}
            for path in self.files():
                parts = path.relative_to(self.root).parts
                if len(parts) > 3 and parts[0] == "services":  # noqa: PLR2004  (services/zone/name)
                    grouped.setdefault("/".join(parts[:3]), []).append(path)
            self._by_service = grouped
        prefix = service.package_dir
        return [
            path
            for path in self._by_service.get(service.rel, [])
            if path.name.endswith(suffix)
            and path.is_relative_to(prefix)
            and "tests" not in path.relative_to(prefix).parts
        ]

    def is_git_ignored(self, path: Path) -> bool:
        """Whether git ignores the file (so it cannot be committed); False outside a work tree."""
        try:
            done = subprocess.run(  # noqa: S603  (git with fixed arguments)
                ["git", "check-ignore", "-q", str(path)],  # noqa: S607  (git from PATH)
                cwd=self.root,
                capture_output=True,
                check=False,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0


def _service(repo: Repo, folder: Path) -> Service:
    pyproject: dict[str, Any] = {}
    toml = folder / "pyproject.toml"
    if toml.is_file():
        try:
            pyproject = tomllib.loads(toml.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            repo.unreadable[repo.rel(toml)] = (0, f"invalid TOML: {exc}")
    package_dir = _package_dir(folder, pyproject)
    return Service(
        rel=repo.rel(folder),
        zone=folder.parent.name,
        name=folder.name,
        root=folder,
        package=package_dir.name if package_dir else None,
        package_dir=package_dir,
        pyproject=pyproject,
    )


def _package_dir(folder: Path, pyproject: dict[str, Any]) -> Path | None:
    src = folder / "src" if (folder / "src").is_dir() else folder
    declared = pyproject.get("project", {}).get("name")
    if isinstance(declared, str):
        candidate = src / declared.replace("-", "_")
        if (candidate / "__init__.py").is_file():
            return candidate
    packages = sorted(
        p
        for p in src.iterdir()
        if p.is_dir() and (p / "__init__.py").is_file() and p.name != "tests"
    )
    return packages[0] if len(packages) == 1 else None
