"""Every service's Dockerfile from the one template, `templates/service/Dockerfile.jinja` (CI-1).

What differs between services is read from the service's pyproject.toml: its console script
(the folder's name), version, description, and `[tool.svcinfra.image]`: the process `commands`
(the first is the image's default) and the `ports` it exposes. A generated service gets the
same file from copier; the reference services get it from `svcinfra new dockerfile`.
"""

from __future__ import annotations

import platform
import tomllib
from pathlib import Path
from typing import Any

import jinja2
import yaml

TEMPLATE = Path("templates/service/Dockerfile.jinja")


class DockerfileError(Exception):
    """The service's pyproject.toml does not say what its image needs."""


def dockerfile_context(root: Path, folder: Path) -> dict[str, Any]:
    """The template's variables for the service in `root / folder` (folder relative to root).

    Raises:
        DockerfileError: no pyproject.toml, or no `[tool.svcinfra.image]` commands and ports.
    """
    pyproject = root / folder / "pyproject.toml"
    try:
        data = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise DockerfileError(f"{pyproject}: cannot read it ({exc})") from exc
    project = data.get("project", {})
    image = data.get("tool", {}).get("svcinfra", {}).get("image", {})
    commands, ports = image.get("commands"), image.get("ports")
    if not (isinstance(commands, list) and commands and all(isinstance(c, str) for c in commands)):
        raise DockerfileError(f'{pyproject}: [tool.svcinfra.image] needs commands = ["serve", ...]')
    if not (isinstance(ports, list) and ports and all(isinstance(p, int) for p in ports)):
        raise DockerfileError(f"{pyproject}: [tool.svcinfra.image] needs ports = [8080, 8081]")
    name = folder.name
    if name not in project.get("scripts", {}):
        raise DockerfileError(f"{pyproject}: no console script named {name} (the folder's name)")
    return {
        "name": name,
        "kind": folder.parent.name,
        "folder": folder.as_posix(),
        "version": project.get("version", "0.1.0"),
        "description": project.get("description", name),
        "command": commands[0],
        "commands": commands,
        "ports": ports,
        # The requirement files are compiled for the dev venv's Python: markers must agree.
        "python_version": platform.python_version(),
    }


def template_envops(root: Path) -> dict[str, Any]:
    """The Jinja settings of the template (copier.yml's `_envops`: [[ ]] and [% %] marks)."""
    try:
        data = yaml.safe_load((root / "copier.yml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DockerfileError(f"{root / 'copier.yml'}: cannot read it ({exc})") from exc
    envops = data.get("_envops") if isinstance(data, dict) else None
    if not isinstance(envops, dict):
        raise DockerfileError(f"{root / 'copier.yml'}: no _envops")
    return dict(envops)


def render_dockerfile(root: Path, folder: Path) -> str:
    """The Dockerfile of the service in `root / folder`, rendered from the shared template."""
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(root / TEMPLATE.parent),
        undefined=jinja2.StrictUndefined,
        autoescape=False,  # noqa: S701  (a Dockerfile, not HTML: nothing to escape)
        **template_envops(root),
    )
    template = environment.get_template(TEMPLATE.name)
    return template.render(dockerfile_context(root, folder))
