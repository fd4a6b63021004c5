"""The dev stage's command serves an edited handler without being restarted (CI-4).

The fake-mail service and the library are copied to a temporary code root, as the workspace is
mounted at CODE_ROOT in a dev environment, and started with the command of the Dockerfiles'
dev stage: scripts/dev_reload.py (test_dockerfiles.py checks that the dev stage runs exactly
that), by an interpreter that, like the dev image, has the dependencies installed but neither
svcinfra nor any service. A handler is edited in the copy; the running command serves the new
behaviour.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import uuid
from pathlib import Path
from typing import IO

import httpx
import pytest
from packaging.utils import canonicalize_name

from svcinfra.testing import until

ROOT = Path(__file__).resolve().parents[2]
SERVICE = Path("services/dev/fake-mail")
COPIED = (
    SERVICE / "src",
    SERVICE / "pyproject.toml",
    Path("libs/python/svcinfra/src"),
    Path("scripts/dev_reload.py"),
)
HANDLER = SERVICE / "src/fake_mail/transport/http/api.py"
ORIGINAL = """    async def faults() -> dict[str, object]:
        return service.faults.as_dict()
"""

OURS = {"svcinfra", "users", "notifications", "fake-mail"}

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _code_root(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    for rel in COPIED:
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / rel).is_dir():
            shutil.copytree(ROOT / rel, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / rel, target)
    return root


def _dependencies_only(tmp_path: Path) -> Path:
    """Return a Python with the dev venv's packages but without svcinfra and the services."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    deps = tmp_path / "dependencies"
    deps.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        distribution = canonicalize_name(entry.name.partition("-")[0])
        if entry.suffix == ".pth" or (entry.suffix == ".dist-info" and distribution in OURS):
            continue  # the editable installs of this repository, and their metadata
        (deps / entry.name).symlink_to(entry)
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(f"{deps}\n")
    return python


def _importable(python: Path, module: str) -> bool:
    """Whether `python` imports `module` without the code root on PYTHONPATH."""
    environ = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "CODE_ROOT"}}
    probe = subprocess.run(
        [str(python), "-c", f"import {module}"], env=environ, capture_output=True, check=False
    )
    return probe.returncode == 0


def _start_dev_command(
    python: Path, root: Path, environ: dict[str, str], log: IO[str]
) -> subprocess.Popen[bytes]:
    """Start the dev stage's ENTRYPOINT + CMD, with CODE_ROOT pointing at the copy."""
    return subprocess.Popen(
        [str(python), str(root / "scripts/dev_reload.py"), str(SERVICE), "fake-mail", "serve"],
        env=environ,
        cwd=root,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def _faults(url: str, key: str) -> dict[str, object] | None:
    try:
        response = httpx.get(f"{url}/v1/faults", headers={"Authorization": f"Bearer {key}"})
    except httpx.TransportError:
        return None  # restarting
    return response.json() if response.status_code == 200 else None


async def test_an_edited_handler_is_served_without_restarting_the_command(tmp_path: Path) -> None:
    """Edit GET /v1/faults in the mounted copy: the same dev command serves the new answer."""
    root = _code_root(tmp_path)
    key = secrets.token_urlsafe(24)
    api_port, tech_port = _free_port(), _free_port()
    environ = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "CODE_ROOT"}}
    environ.update(
        CODE_ROOT=str(root),
        SERVICE_NAME="fake-mail",
        ENV="dev",
        HTTP_HOST="127.0.0.1",
        API_PORT=str(api_port),
        TECH_PORT=str(tech_port),
        ENV_PREFIX="FAKE_MAIL_",  # its secret is read under its prefix (CF-4)
        FAKE_MAIL_API_KEY=key,
        SHUTDOWN_TIMEOUT="5",
    )
    url = f"http://127.0.0.1:{api_port}"
    log = (tmp_path / "dev.log").open("w+")
    python = _dependencies_only(tmp_path)
    for module in ("svcinfra", "fake_mail"):
        assert not _importable(python, module), f"{module} is installed: not the copy would run"
    process = _start_dev_command(python, root, environ, log)
    try:
        await until(lambda: _faults(url, key) is not None, timeout=60, interval=0.1)
        before = _faults(url, key)
        assert before is not None
        assert "reloaded" not in before

        marker = str(uuid.uuid4())
        handler = root / HANDLER
        text = handler.read_text()
        assert ORIGINAL in text, "the handler this test edits has changed"
        edited = ORIGINAL.replace(
            "return service.faults.as_dict()",
            f'return {{**service.faults.as_dict(), "reloaded": "{marker}"}}',
        )
        handler.write_text(text.replace(ORIGINAL, edited))

        await until(
            lambda: (_faults(url, key) or {}).get("reloaded") == marker, timeout=60, interval=0.1
        )
        assert process.poll() is None, "the dev command itself was restarted or stopped"
        assert (ROOT / HANDLER).read_text().count('"reloaded"') == 0
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
        log.seek(0)
        output = log.read()
        log.close()
    assert key not in output
    assert output.count('"event": "service started"') >= 2, output
