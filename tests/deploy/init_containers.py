"""The provisioning init containers of deploy/, run on this machine as a pod would run them.

`init_argv` reads a Deployment's init container from the rendered manifests (services.yaml as
codexctl renders it) and returns its command and arguments with `/scripts` pointing at a folder
holding the rendered service-scripts ConfigMap; `run_init` runs them with an environment the
caller gives (the pod's envFrom, with local hosts), expanding `$(VAR)` in the arguments the way
the kubelet does, and with this virtualenv's console scripts (`svcinfra`) on PATH, as the
service image has them.

`ManagementShim` answers the two management API calls `svcinfra provision rabbitmq` makes
(`POST /api/definitions`, `GET /api/users/<user>/permissions`) by handing them to
`rabbitmqctl import_definitions` and `list_user_permissions` on the local broker: the local
servers run no management plugin, and both paths end in the same definitions importer on the
broker. It checks the admin's basic credentials and records every body it receives.
"""

from __future__ import annotations

import base64
import http.server
import json
import os
import re
import subprocess
import sys
import threading
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import unquote

from stack import Stack, load_stack

from svcinfra.provision import ProvisionError, Rabbitmqctl

if TYPE_CHECKING:
    from types import TracebackType

VENV_BIN = Path(sys.executable).parent
_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


@cache
def rendered(env: str = "dev") -> Stack:
    """services.yaml and its manifests rendered for `env` (cached: rendering takes a while)."""
    return load_stack(env)


def init_container(deployment: str, name: str, env: str = "dev") -> dict[str, Any]:
    """The init container `name` of `deployment` as deploy/ renders it."""
    obj = rendered(env).find("Deployment", deployment)
    assert obj is not None, deployment
    containers = obj["spec"]["template"]["spec"]["initContainers"]
    return next(c for c in containers if c["name"] == name)


def write_scripts(folder: Path, env: str = "dev") -> Path:
    """Write the service-scripts ConfigMap's files into `folder` (the pod's /scripts)."""
    configmap = rendered(env).find("ConfigMap", "service-scripts")
    assert configmap is not None
    folder.mkdir(parents=True, exist_ok=True)
    for name, body in configmap["data"].items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


def init_argv(deployment: str, name: str, scripts: Path, env: str = "dev") -> list[str]:
    """The container's command and arguments, `/scripts/` replaced by `scripts`."""
    container = init_container(deployment, name, env)
    argv = [*container.get("command", []), *container.get("args", [])]
    return [arg.replace("/scripts/", f"{scripts}/") for arg in argv]


def expand(arg: str, env: dict[str, str]) -> str:
    """`$(VAR)` replaced by its value when the variable is defined (the kubelet's rule)."""
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), arg)


def run_init(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run an init container's argv with exactly `env` (plus PATH), as the pod would."""
    return subprocess.run(
        [expand(arg, env) for arg in argv],
        env={"PATH": f"{VENV_BIN}:{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class _Handler(http.server.BaseHTTPRequestHandler):
    shim: ClassVar[ManagementShim]

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == self.shim.authorization:
            return True
        self._reply(401, {"error": "not_authorised"})
        return False

    def _reply(self, status: int, body: object = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        if not self._authorised():
            return
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.shim.received.append(("POST", self.path, body))
        if self.path != "/api/definitions":
            self._reply(404, {"error": "not_found"})
            return
        try:
            self.shim.broker.import_definitions(json.loads(body))
        except ProvisionError as exc:
            self._reply(400, {"error": "bad_request", "reason": str(exc)})
            return
        self._reply(204)

    def do_GET(self) -> None:
        if not self._authorised():
            return
        self.shim.received.append(("GET", self.path, ""))
        match = re.fullmatch(r"/api/users/([^/]+)/permissions", self.path)
        if match is None:
            self._reply(404, {"error": "not_found"})
            return
        user = unquote(match.group(1))
        if user not in self.shim.broker.users():
            self._reply(404, {"error": "Object Not Found", "reason": "Not Found"})
            return
        rows = [
            {"user": user, "vhost": vhost, "configure": g.configure, "write": g.write,
             "read": g.read}
            for vhost, g in self.shim.broker.permissions(user).items()
        ]  # fmt: skip
        self._reply(200, rows)

    def log_message(self, *args: object) -> None:
        pass


class ManagementShim:
    """A local stand-in for the management API's two provisioning endpoints (see the module)."""

    def __init__(self, admin: str, admin_password: str, broker: Rabbitmqctl | None = None) -> None:
        token = base64.b64encode(f"{admin}:{admin_password}".encode()).decode()
        self.authorization = "Basic " + token
        self.broker = broker or Rabbitmqctl()
        self.received: list[tuple[str, str, str]] = []
        handler = type("Handler", (_Handler,), {"shim": self})
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        """The port it listens on (loopback)."""
        return int(self._server.server_address[1])

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
