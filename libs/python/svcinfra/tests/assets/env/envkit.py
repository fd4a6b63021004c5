"""Test helpers for `svcinfra env`: a fake `gh` on PATH, and codexctl's rendering of a template.

`FakeGh` installs the script `gh` (next to this file) as `<dir>/bin/gh`, behind a shebang naming
the test's Python; put first on PATH, it records every call (argv and standard input) as a JSON
line in `calls.jsonl` and keeps GitHub environments in `state.json`:

    {"authenticated": true, "fail_on_write": null, "writes": 0,
     "environments": {"ai-staging": {"variables": {"NAME": "value"}, "secrets": {"NAME": "value"}}}}

Like GitHub, `variable set` and `secret set` create or overwrite (so a test would see an
overwrite), `secret set` without `--body` reads the value from standard input (trailing newline
trimmed), a missing environment is an HTTP 404, and write number `fail_on_write` (counted across
runs) fails with an HTTP 502.

Load this module with `load_envkit()` from a test (tests/assets is not a package).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SERVICES = HERE / "services"

_STRING = r'"(?:[^"\\]|\\.)*"'
_ENV_OR = re.compile(rf'\{{\{{ printf "%q" \(envOr ({_STRING}) ({_STRING})\) \}}\}}')


class FakeGh:
    """The fake gh installed in a folder: its PATH entry, state and recorded calls."""

    def __init__(self, root: Path, environments: dict[str, dict[str, dict[str, str]]]) -> None:
        self.root = root
        self.bin = root / "bin"
        self.bin.mkdir(parents=True, exist_ok=True)
        script = self.bin / "gh"
        # -S: no site import; the fake needs only the standard library, and starts much faster.
        script.write_text(f"#!{sys.executable} -S\n" + (HERE / "gh").read_text(encoding="utf-8"))
        script.chmod(0o755)
        self.state_path = root / "state.json"
        self.log_path = root / "calls.jsonl"
        self.state = {
            "authenticated": True,
            "fail_on_write": None,
            "writes": 0,
            "environments": environments,
        }

    @property
    def state(self) -> dict[str, Any]:
        return json.loads(self.state_path.read_text(encoding="utf-8"))

    @state.setter
    def state(self, value: dict[str, Any]) -> None:
        self.state_path.write_text(json.dumps(value), encoding="utf-8")

    def update(self, **changes: Any) -> None:
        self.state = self.state | changes

    def environ(self, path: str | None = None) -> dict[str, str]:
        """The variables a process needs to find this gh first on PATH."""
        rest = os.environ["PATH"] if path is None else path
        return {
            "PATH": f"{self.bin}{os.pathsep}{rest}",
            "FAKE_GH_STATE": str(self.state_path),
            "FAKE_GH_LOG": str(self.log_path),
        }

    def calls(self) -> list[dict[str, Any]]:
        """Every recorded call: {"argv": [...], "stdin": "..."}."""
        if not self.log_path.exists():
            return []
        return [json.loads(line) for line in self.log_path.read_text().splitlines()]

    def writes(self) -> list[dict[str, Any]]:
        """The recorded `variable set` and `secret set` calls, in order."""
        return [c for c in self.calls() if c["argv"][1:2] == ["set"]]

    def written(self) -> list[tuple[str, str, str]]:
        """(environment, kind, name) of every recorded write, in order."""
        return [(_option(c["argv"], "--env"), c["argv"][0], c["argv"][2]) for c in self.writes()]

    def entries(self, environment: str, kind: str) -> dict[str, str]:
        """The variables or secrets of an environment now, by name."""
        return self.state["environments"][environment][f"{kind}s"]


def render_template(template: str, environ: dict[str, str], namespace: str = "ns") -> str:
    """Render a generated manifest as codexctl would: `printf "%q" (envOr ...)`, `.Namespace`."""

    def env_or(match: re.Match[str]) -> str:
        name, default = json.loads(match[1]), json.loads(match[2])
        # Go's %q and JSON agree on every string a test uses; both are YAML double-quoted scalars.
        return json.dumps(environ.get(name) or default, ensure_ascii=False)

    return _ENV_OR.sub(env_or, template.replace("{{ .Namespace }}", namespace))


def _option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1] if name in argv else ""
