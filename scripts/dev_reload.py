"""Run a service's command from the sources under CODE_ROOT, restarting it on every change (CI-4).

    python "${CODE_ROOT:-/workspace}/scripts/dev_reload.py" services/dev/fake-mail fake-mail serve

The dev stage of every Dockerfile runs this, and so does the test that edits a handler while
it runs (tests/build/test_dev_reload.py): one command, one place. It needs only the standard
library and watchfiles, and the service's dependencies installed, not the service itself:

- the code root is $CODE_ROOT, or the repository this script lies in;
- PYTHONPATH is the service's src/ and libs/python/svcinfra/src under the code root, so the
  mounted sources are what runs, never an installed copy;
- COMMAND's first word is a console script of the service's pyproject.toml; its entry point
  (`fake_mail.__main__:main`) is called in a fresh interpreter with the remaining words;
- watchfiles restarts that process when a .py, .sql or .yaml file under either src/ changes
  (SIGINT first, which the service takes as a graceful shutdown), and stops it on SIGTERM.
"""

from __future__ import annotations

import os
import shlex
import sys
import tomllib
from pathlib import Path

from watchfiles import PythonFilter, run_process

LIBRARY_SRC = Path("libs/python/svcinfra/src")
WATCHED_EXTENSIONS = (".sql", ".yaml", ".yml")


def code_root() -> Path:
    """Return $CODE_ROOT, or the repository that holds this script."""
    return Path(os.environ.get("CODE_ROOT") or Path(__file__).resolve().parent.parent)


def entry_point(service: Path, script: str) -> tuple[str, str]:
    """Return (module, function) of the console script `script` of the service in `service`."""
    with (service / "pyproject.toml").open("rb") as file:
        scripts = tomllib.load(file)["project"].get("scripts", {})
    if script not in scripts:
        known = ", ".join(sorted(scripts)) or "none"
        raise SystemExit(f"dev_reload: {script!r} is not a console script of {service} ({known})")
    module, _, function = scripts[script].partition(":")
    return module, function


def command(service: Path, words: list[str]) -> list[str]:
    """Return the argv that runs `words` (console script and arguments) from the sources."""
    module, function = entry_point(service, words[0])
    call = (
        f"import sys; sys.argv[0] = {words[0]!r}; "
        f"from {module} import {function} as main; sys.exit(main())"
    )
    return [sys.executable, "-c", call, *words[1:]]


def main(argv: list[str]) -> None:
    """Parse `SERVICE_DIR COMMAND...` and run COMMAND with reload until SIGTERM / SIGINT."""
    if len(argv) < 2:  # noqa: PLR2004  (a folder and a command)
        raise SystemExit("usage: dev_reload.py SERVICE_DIR COMMAND [ARGS...]")
    root = code_root()
    service = root / argv[0]
    sources = [service / "src", root / LIBRARY_SRC]
    missing = [str(path) for path in sources if not path.is_dir()]
    if missing:
        raise SystemExit(f"dev_reload: no sources at {', '.join(missing)} (is CODE_ROOT mounted?)")
    os.environ["PYTHONPATH"] = os.pathsep.join(str(path) for path in sources)
    argv_run = command(service, argv[1:])
    sys.stderr.write(f"dev_reload: {shlex.join(argv[1:])} from {root}, reloading on change\n")
    run_process(
        *sources,
        target=shlex.join(argv_run),
        target_type="command",
        watch_filter=PythonFilter(extra_extensions=WATCHED_EXTENSIONS),
        sigint_timeout=30,
    )


if __name__ == "__main__":
    main(sys.argv[1:])
