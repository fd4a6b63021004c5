"""The files generated from a service's schema, and drift detection against the committed ones.

One schema, three files (CF-1, CF-2, CF-6), all in the service's folder by default:

- `.env.example`: every variable documented, secrets empty (`svcinfra.config.render_env_example`).
- `deploy/configmap.yaml`: the `<name>-config` ConfigMap: constants as literals, every other
  non-secret value as `{{ printf "%q" (envOr "NAME" "<default>") }}`, a codexctl template that
  takes the GitHub environment's variable at deploy time and the schema's default otherwise.
- `deploy/secret.yaml`: the `<name>-secret` Secret template, names only: each value is the GitHub
  environment's secret of the same name at deploy time.

Shared connection settings (placement `cluster`) appear in neither: the cluster-wide ConfigMap
holds them, and the service's ConfigMap lists them in a comment.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from svcinfra.config import render_env_example

from ._errors import ServiceDeclarationError
from ._schema import Placement, SchemaEntry, schema

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ._service import Service

ENV_EXAMPLE = Path(".env.example")
CONFIGMAP = Path("deploy/configmap.yaml")
SECRET = Path("deploy/secret.yaml")


@dataclass(frozen=True, slots=True)
class GeneratedFile:
    """A file's path and the text the schema says it must hold."""

    path: Path
    text: str

    def is_fresh(self) -> bool:
        """Tell whether the file on disk holds exactly the generated text."""
        try:
            return self.path.read_text(encoding="utf-8") == self.text
        except FileNotFoundError:
            return False

    def write(self) -> None:
        """Write the generated text, creating the folder if needed."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(self.text, encoding="utf-8")


def env_example_file(service: Service, path: Path | None = None) -> GeneratedFile:
    """Return `.env.example` for `service`, at `path` or in its folder."""
    text = render_env_example(service.config, service.env_prefix)
    return GeneratedFile(_where(service, path, ENV_EXAMPLE), text)


def manifest_files(service: Service, folder: Path | None = None) -> tuple[GeneratedFile, ...]:
    """Return the ConfigMap and the Secret template of `service`, in `folder` or its `deploy/`."""
    entries = schema(service)
    configmap = folder / CONFIGMAP.name if folder else _where(service, None, CONFIGMAP)
    secret = folder / SECRET.name if folder else _where(service, None, SECRET)
    return (
        GeneratedFile(configmap, render_configmap(service, entries)),
        GeneratedFile(secret, render_secret(service, entries)),
    )


def generated_files(service: Service) -> tuple[GeneratedFile, ...]:
    """Return every file generated for the service folder of `service`, at its default path."""
    return (env_example_file(service), *manifest_files(service))


def stale_files(files: Iterable[GeneratedFile]) -> tuple[Path, ...]:
    """Return the paths of the files that are missing or differ from what the schema generates."""
    return tuple(f.path for f in files if not f.is_fresh())


def render_configmap(service: Service, entries: Iterable[SchemaEntry]) -> str:
    """Return the `<name>-config` ConfigMap: every non-secret, non-shared value of `service`."""
    entries = tuple(entries)
    lines = [
        f"# ConfigMap of {service.name}, generated from {service.target} by",
        "# `svcinfra env manifests` (do not edit). A codexctl template: each value is the GitHub",
        "# environment's variable of that name at deploy time, else the schema's default (CF-1).",
        f"# Secrets are in {service.name}-secret ({SECRET}).",
    ]
    cluster = [e for e in entries if e.placement is Placement.CLUSTER]
    if cluster:
        lines.append("# Shared settings, from the cluster-wide ConfigMap (deploy/configmap.yaml):")
        lines.extend(
            f"#   {e.variable.fallback}{' (required)' if e.variable.required else ''}"
            f" - set {e.name} here to override it for this service only"
            for e in cluster
        )
    lines += _metadata("ConfigMap", f"{service.name}-config")
    lines.append("data:")
    for entry in entries:
        if entry.placement is Placement.CONSTANT:
            lines.append(f"  {entry.name}: {_go_string(entry.value or '')}")
        elif entry.placement is Placement.VARIABLE:
            lines.append(f"  {entry.name}: {_env_or(entry.name, entry.variable.default or '')}")
    return "\n".join(lines) + "\n"


def render_secret(service: Service, entries: Iterable[SchemaEntry]) -> str:
    """Return the `<name>-secret` Secret template of `service`: secret names, never a value."""
    secrets = [e for e in entries if e.placement is Placement.SECRET]
    lines = [
        f"# Secret of {service.name}, generated from {service.target} by",
        "# `svcinfra env manifests` (do not edit). Names only: each value is the GitHub",
        "# environment's secret of that name at deploy time, made by `svcinfra env apply` (CF-2).",
        *_metadata("Secret", f"{service.name}-secret"),
        "type: Opaque",
        "stringData:" if secrets else "stringData: {}",
    ]
    lines.extend(f"  {e.name}: {_env_or(e.name, '')}" for e in secrets)
    return "\n".join(lines) + "\n"


def _metadata(kind: str, name: str) -> list[str]:
    return [
        "apiVersion: v1",
        f"kind: {kind}",
        "metadata:",
        f"  name: {name}",
        "  namespace: {{ .Namespace }}",
    ]


def _env_or(name: str, default: str) -> str:
    # codexctl renders the Go template before YAML is parsed, so the value it inserts must be a
    # YAML scalar whatever it holds: `printf "%q"` makes it a Go-quoted string, whose escapes are
    # all YAML double-quote escapes (a bare '...' would break on a value with a quote). The name
    # and default are Go string literals: JSON's escapes without \u surrogates are Go's.
    literals = f"{_go_string(name)} {_go_string(default)}"
    return f'{{{{ printf "%q" (envOr {literals}) }}}}'


def _go_string(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _where(service: Service, path: Path | None, default: Path) -> Path:
    if path is not None:
        return path
    if service.root is None:
        raise ServiceDeclarationError(f"{service.target} has no service folder; give a path")
    return service.root / default
