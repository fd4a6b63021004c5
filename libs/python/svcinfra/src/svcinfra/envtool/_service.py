"""A SERVICE: its Config class, ENV_PREFIX and name, read from its folder or given directly.

A service folder (`services/<zone>/<name>/`) declares them in its own `pyproject.toml`:

    [tool.svcinfra]
    config = "users.config:UsersConfig"   # the service's Config class (CF-6)
    env-prefix = "USERS_"                 # its ENV_PREFIX (CF-4); "" when nothing is prefixed
    # name = "users"                      # default: the folder's name

The class is imported from the folder's `src/` (src layout), or from the folder itself when it has
no `src/`, so that a service need not be installed to have its files generated. Tests and one-off
runs may name the class directly: `MODULE:CLASS --env-prefix USERS_ [--name users]`.
"""

from __future__ import annotations

import importlib
import re
import sys
import tomllib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from svcinfra.config import Config

from ._errors import ServiceDeclarationError

if TYPE_CHECKING:
    from pathlib import Path

_PREFIX = re.compile(r"^[A-Z][A-Z0-9_]*_$")
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
_TARGET = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


@dataclass(frozen=True, slots=True)
class Service:
    """A service as `svcinfra env` sees it.

    Attributes:
        name: SERVICE_NAME; names its `<name>-config` ConfigMap and `<name>-secret` Secret.
        config: its Config class, the one source of every generated file (CF-6).
        target: `MODULE:CLASS` of that class, as written in generated files.
        env_prefix: its ENV_PREFIX (CF-4).
        root: its folder, where generated files are written by default; None for `MODULE:CLASS`.
    """

    name: str
    config: type[Config]
    target: str
    env_prefix: str
    root: Path | None = None


def load_service(folder: Path) -> Service:
    """Read the `[tool.svcinfra]` declaration of the service in `folder` and import its Config.

    Raises:
        ServiceDeclarationError: no pyproject.toml, no `[tool.svcinfra]`, or a bad entry in it.
    """
    pyproject = folder / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ServiceDeclarationError(f"{pyproject}: cannot read it ({exc})") from exc
    table = data.get("tool", {}).get("svcinfra")
    if not isinstance(table, dict):
        raise ServiceDeclarationError(
            f'{pyproject}: no [tool.svcinfra] table; declare config = "module:Class" and '
            'env-prefix = "PREFIX_" there',
        )
    target, prefix = table.get("config"), table.get("env-prefix")
    name = table.get("name", folder.resolve().name)
    if not isinstance(target, str) or not isinstance(prefix, str) or not isinstance(name, str):
        raise ServiceDeclarationError(
            f"{pyproject}: [tool.svcinfra] needs config and env-prefix as strings "
            "(and name, if given)",
        )
    source = folder / "src" if (folder / "src").is_dir() else folder
    return _service(target, prefix, name, root=folder, import_from=source)


def service_from_target(target: str, *, env_prefix: str, name: str | None = None) -> Service:
    """Describe the service whose Config class is `MODULE:CLASS`, importable as it is.

    Args:
        target: `MODULE:CLASS` of a `svcinfra.config.Config` subclass.
        env_prefix: its ENV_PREFIX (CF-4).
        name: its SERVICE_NAME; by default the prefix in kebab case (`CHAT_GATEWAY_` ->
            `chat-gateway`).
    """
    default = env_prefix.removesuffix("_").lower().replace("_", "-") or "service"
    return _service(target, env_prefix, name or default, root=None, import_from=None)


def discover_services(root: Path) -> tuple[Path, ...]:
    """Return every service folder `root/<zone>/<name>/` whose pyproject.toml has `[tool.svcinfra]`.

    Used to find every service whose generated files must match its schema; `root` is the
    monorepo's `services/` folder (or a folder of fixtures shaped like it).
    """
    found = []
    for pyproject in sorted(root.glob("*/*/pyproject.toml")):
        text = pyproject.read_text(encoding="utf-8")
        if "svcinfra" in tomllib.loads(text).get("tool", {}):
            found.append(pyproject.parent)
    return tuple(found)


def _service(
    target: str,
    prefix: str,
    name: str,
    *,
    root: Path | None,
    import_from: Path | None,
) -> Service:
    where = f"{root / 'pyproject.toml'}: " if root else ""
    if not _TARGET.match(target):
        raise ServiceDeclarationError(
            f"{where}config must be MODULE:CLASS, e.g. users.config:UsersConfig; got {target!r}",
        )
    if prefix and not _PREFIX.match(prefix):
        raise ServiceDeclarationError(
            f"{where}env-prefix must be upper-case letters, digits and _, ending in _ (CF-4); "
            f"got {prefix!r}",
        )
    if not _NAME.match(name):
        raise ServiceDeclarationError(
            f"{where}the service name must be lowercase kebab-case; got {name!r}",
        )
    config = _import_config(target, import_from, where)
    if not prefix and config.variables("")[0].required:
        raise ServiceDeclarationError(
            f"{where}{target} reads prefixed credentials, so it needs an env-prefix (CF-4)",
        )
    return Service(name=name, config=config, target=target, env_prefix=prefix, root=root)


def _import_config(target: str, import_from: Path | None, where: str) -> type[Config]:
    module_name, _, attr = target.partition(":")
    if import_from is not None and str(import_from.resolve()) not in sys.path:
        sys.path.insert(0, str(import_from.resolve()))
    try:
        obj = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ServiceDeclarationError(f"{where}cannot import {target}: {exc}") from exc
    if not (isinstance(obj, type) and issubclass(obj, Config)):
        raise ServiceDeclarationError(f"{where}{target} is not a svcinfra.config.Config subclass")
    return obj
