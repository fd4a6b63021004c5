"""`new_service`: copier renders templates/service, then the service joins services.yaml.

The files generated from the service's Config (.env.example, deploy/configmap.yaml and
deploy/secret.yaml, CF-4) are written by `svcinfra.envtool`, the code `svcinfra env` runs, so
they are fresh from the start; `make lock-services` pins its image's requirements (CI-1).
"""

from __future__ import annotations

import platform
import re
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from pathlib import Path

PARTS: Final = ("postgres", "redis", "publish", "consume", "http-api", "external-api")
KINDS: Final = ("internal", "dev")
# Longer names would push the generated code's lines past the line length (ruff, E501).
MAX_NAME: Final = 24
_NAME = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
# Names the repository already uses for something else (services.yaml's images and entries).
_TAKEN: Final = frozenset({"postgres", "redis", "rabbitmq", "svcinfra"})


class NewServiceError(Exception):
    """The service cannot be created as asked; nothing was written."""


@dataclass(frozen=True, slots=True)
class Created:
    """What `new_service` made, and what is left to the developer."""

    folder: Path
    next_steps: tuple[str, ...]


def find_root(start: Path) -> Path:
    """The monorepo around `start`: the first folder up with copier.yml and services.yaml.

    Raises:
        NewServiceError: there is none.
    """
    for folder in (start.resolve(), *start.resolve().parents):
        if (folder / "copier.yml").is_file() and (folder / "services.yaml").is_file():
            return folder
    raise NewServiceError(f"no monorepo (copier.yml and services.yaml) at or above {start}")


def check_request(root: Path, name: str, kind: str, parts: list[str]) -> None:
    """Refuse what the template cannot render well, before anything is written.

    Raises:
        NewServiceError: a bad name, kind or part, or a part missing what it needs.
    """
    if not _NAME.fullmatch(name) or len(name) > MAX_NAME or name in _TAKEN:
        raise NewServiceError(
            f"{name!r}: a service name is lowercase kebab-case, at most 24 characters, "
            "e.g. billing or order-history, and not postgres, redis, rabbitmq or svcinfra"
        )
    if kind not in KINDS:
        raise NewServiceError(f"--kind {kind!r}: internal or dev")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise NewServiceError(f"--with {','.join(unknown)}: unknown; the parts: {','.join(PARTS)}")
    if not {"http-api", "consume"} & set(parts):
        raise NewServiceError("--with: a service runs a process: add http-api, consume or both")
    if "publish" in parts and "http-api" not in parts:
        raise NewServiceError("--with publish needs http-api: its endpoint makes what it announces")
    for part in ("publish", "consume"):
        if part in parts and "postgres" not in parts:
            raise NewServiceError(
                f"--with {part} needs postgres: the outbox and the inbox are tables (MQ-3)"
            )
    for folder in (root / "services").glob(f"*/{name}"):
        raise NewServiceError(f"{folder.relative_to(root)} exists")


def new_service(
    root: Path,
    name: str,
    *,
    kind: str,
    parts: list[str],
    description: str | None = None,
    vcs_ref: str | None = "HEAD",
) -> Created:
    """Render services/KIND/NAME from the template at `root` and register it in services.yaml.

    Args:
        root: the monorepo; its copier.yml names the template (a git repository: the service
            records the commit, so that `copier update` can bring later template changes).
        name: the service's name (folder, console script, image, Deployment prefix).
        kind: internal or dev.
        parts: a subset of PARTS.
        description: one line for pyproject.toml, the README and the image's label.
        vcs_ref: the template's commit or tag; HEAD includes uncommitted template changes.

    Raises:
        NewServiceError: a bad request (nothing written) or a failed render.
    """
    import copier  # noqa: PLC0415  (the `new` extra; `svcinfra --help` must not need it)

    from svcinfra.newservice._services_yaml import register  # noqa: PLC0415

    parts = [part for part in PARTS if part in parts]
    check_request(root, name, kind, parts)
    folder = root / "services" / kind / name
    data: dict[str, object] = {
        "name": name,
        "kind": kind,
        "parts": parts,
        "description": description or f"The {name} service.",
        "python_version": platform.python_version(),
    }
    try:
        copier.run_copy(
            str(root),
            str(folder),
            data=data,
            vcs_ref=vcs_ref,
            defaults=True,
            quiet=True,
            unsafe=False,
        )
    except Exception as exc:
        raise NewServiceError(f"copier could not render the template: {exc}") from exc
    if {"publish", "consume"} & set(parts):
        # The outbox's and the inbox's tables are the library's migrations (MQ-3), copied as
        # the service's own files with this moment's versions, as `svcinfra` documents it.
        from svcinfra.messaging.storage import write_migrations  # noqa: PLC0415

        write_migrations(folder / "src" / name.replace("-", "_") / "cli" / "migrations")
    register(root / "services.yaml", name=name, kind=kind, parts=parts)
    write_env_files(folder)
    return Created(
        folder,
        (
            f".venv/bin/python scripts/lock_services.py {folder.relative_to(root)}  # CI-1",
            "make venv  # installs it into .venv",
            f".venv/bin/pytest {folder.relative_to(root)}",
            f"make run ONLY={name}  # starts it locally (or plain `make run`: every service)",
            "README.md: Your first service in ten minutes",
        ),
    )


def write_env_files(folder: Path) -> None:
    """Write .env.example and deploy/ ConfigMap and Secret, as `svcinfra env` would (CF-4)."""
    from svcinfra.envtool import generated_files, load_service  # noqa: PLC0415

    source = str(folder / "src")
    added = source not in sys.path
    if added:
        sys.path.insert(0, source)
    try:
        service = load_service(folder)
        for generated in generated_files(service):
            generated.path.parent.mkdir(parents=True, exist_ok=True)
            generated.path.write_text(generated.text, encoding="utf-8")
    finally:
        if added:
            sys.path.remove(source)
