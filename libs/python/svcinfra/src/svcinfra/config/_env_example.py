"""Render `.env.example` from a Config's schema, so that the example cannot drift from the code."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._config import Config

_GENERATE = "generate: openssl rand -base64 32"


def render_env_example(cls: type[Config], env_prefix: str) -> str:
    """Return the text of `.env.example` for `cls` as the service named by `env_prefix` reads it.

    Every variable gets a comment; required ones are left empty to fill in, optional ones show
    their default; secrets are always empty, with how to generate one (CF-2).
    """
    lines = [
        f"# Environment of a service configured by {cls.__qualname__} (generated; do not edit).",
        "# Copy to .env for local runs; .env is never committed (CF-2).",
    ]
    section = None
    for var in cls.variables(env_prefix):
        if var.section != section:
            section = var.section
            lines.append("")
            if section:
                lines.append(f"# --- {section} ---")
        notes = [var.description or var.field]
        if var.fallback:
            notes.append(f"Falls back to {var.fallback}.")
        if var.secret:
            notes.append(f"Secret; {_GENERATE}.")
        notes.append(f"({var.type}{', required' if var.required else ''})")
        lines.append(f"# {' '.join(notes)}")
        if var.name == "ENV_PREFIX":
            lines.append(f"{var.name}={env_prefix}")
        elif var.secret or var.default is None:
            lines.append(f"{var.name}=" if var.required else f"# {var.name}=")
        else:
            lines.append(f"{var.name}={var.default}")
    return "\n".join(lines) + "\n"
