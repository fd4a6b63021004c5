"""A service's RabbitMQ user and its permissions, as one definitions document (CF-4).

The document holds the user (with `password_hash`, never the password) and its permissions on
one vhost. Both of RabbitMQ's admin paths import it with the same code on the broker
(`rabbit_definitions`): `ManagementApi` posts it to `/api/definitions` (the deploy init
containers: a managed broker offers the HTTP API, not the Erlang distribution), `Rabbitmqctl`
pipes it to `rabbitmqctl import_definitions` (the local servers, which run no management plugin).
Import is additive: other users, vhosts and permissions are left as they are. After the import
the user's permissions are read back and must equal the document's: a grant that did not take,
or that differs, is an error rather than a silent widening.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ._errors import ProvisionError
from ._grants import Grant
from ._hashes import RABBITMQ_HASHING, rabbitmq_password_hash

if TYPE_CHECKING:
    from collections.abc import Mapping

_TIMEOUT = 30.0
_SETTLE = 10.0
_EX_UNAVAILABLE = 69


class BrokerAdmin(Protocol):
    """An admin path to a broker: import a definitions document, read a user's permissions."""

    def import_definitions(self, document: Mapping[str, Any]) -> None:
        """Import `document` (users, vhosts, permissions) into the broker."""

    def permissions(self, user: str) -> dict[str, Grant]:
        """Return `user`'s permissions by vhost (empty if the user does not exist)."""


def broker_definitions(
    user: str, password: str, vhost: str, grant: Grant, *, salt: bytes | None = None
) -> dict[str, Any]:
    """The definitions document of `user` with `grant` on `vhost` (no tags: no management)."""
    if not user or not password or not vhost:
        raise ProvisionError("a broker user needs a name, a password and a vhost")
    return {
        "users": [
            {
                "name": user,
                "password_hash": rabbitmq_password_hash(password, salt=salt),
                "hashing_algorithm": RABBITMQ_HASHING,
                "tags": "",
            }
        ],
        "permissions": [
            {
                "user": user,
                "vhost": vhost,
                "configure": grant.configure,
                "write": grant.write,
                "read": grant.read,
            }
        ],
    }


def apply_definitions(
    admin: BrokerAdmin, document: Mapping[str, Any], *, settle: float = _SETTLE
) -> None:
    """Import `document`, then check every permission in it took exactly as written.

    `settle`: seconds to wait for the permissions to show (rabbitmqctl's import may finish after
    the command returns).

    Raises:
        ProvisionError: the broker refused, or a user's permissions differ from the document's.
    """
    admin.import_definitions(document)
    expected = {
        (p["user"], p["vhost"]): Grant(p["configure"], p["write"], p["read"])
        for p in document.get("permissions", [])
    }
    deadline = time.monotonic() + settle
    while True:
        actual = {(user, vhost): admin.permissions(user).get(vhost) for user, vhost in expected}
        if actual == expected:
            return
        if time.monotonic() > deadline:
            raise ProvisionError(f"the broker's permissions are {actual}, expected {expected}")
        time.sleep(0.2)


@dataclass(frozen=True, slots=True)
class ManagementApi:
    """The management plugin's HTTP API (`http://host:15672/api`) as an administrator."""

    url: str
    user: str
    password: str = field(repr=False)

    def _request(self, method: str, path: str, body: object = None) -> object:
        basic = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
        headers = {"Authorization": "Basic " + basic, "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310  (the configured management URL)
            self.url.rstrip("/") + path, data, headers, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT) as response:  # noqa: S310
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            reason = exc.read().decode(errors="replace")[:300]
            raise ProvisionError(f"management API {method} {path}: {exc.code} {reason}") from exc
        except OSError as exc:
            raise ProvisionError(f"management API at {self.url}: {exc}") from exc
        return json.loads(text) if text else None

    def import_definitions(self, document: Mapping[str, Any]) -> None:
        """POST the document to `/api/definitions`."""
        self._request("POST", "/definitions", document)

    def permissions(self, user: str) -> dict[str, Grant]:
        """GET `/api/users/<user>/permissions` (no user: no permissions)."""
        try:
            rows = self._request("GET", f"/users/{urllib.parse.quote(user, safe='')}/permissions")
        except ProvisionError as exc:
            if " 404 " in str(exc):
                return {}
            raise
        assert isinstance(rows, list)  # noqa: S101  (the API's documented shape)
        return {r["vhost"]: Grant(r["configure"], r["write"], r["read"]) for r in rows}


@dataclass(frozen=True, slots=True)
class Rabbitmqctl:
    """`rabbitmqctl` on this machine (root, or a user that can read the Erlang cookie)."""

    command: tuple[str, ...] = ("rabbitmqctl",)
    env: Mapping[str, str] = field(default_factory=dict)

    def run(self, *args: str, stdin: str | None = None) -> str:
        """Run `rabbitmqctl --silent <args>` and return its output.

        Raises:
            ProvisionError: rabbitmqctl is missing or failed (its message says why).
        """
        name, *options = self.command
        exe = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
        if exe is None:
            raise ProvisionError(f"{name} is not installed (scripts/infra.sh up installs it)")
        try:
            done = subprocess.run(  # noqa: S603  (fixed executable, arguments are names)
                [exe, *options, "--silent", *args],
                env=os.environ | dict(self.env) if self.env else None,
                input=stdin,
                capture_output=True,
                text=True,
                timeout=_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ProvisionError(f"rabbitmqctl {args[0]} timed out") from exc
        if done.returncode != 0:
            unavailable = done.returncode == _EX_UNAVAILABLE
            hint = " (is RabbitMQ running? run it as root)" if unavailable else ""
            message = (done.stderr or done.stdout).strip()
            raise ProvisionError(f"rabbitmqctl {args[0]} failed{hint}: {message}")
        return done.stdout

    def import_definitions(self, document: Mapping[str, Any]) -> None:
        """Pipe the document to `rabbitmqctl import_definitions` (no file, no command line)."""
        self.run("import_definitions", "--format", "json", stdin=json.dumps(document))

    def permissions(self, user: str) -> dict[str, Grant]:
        """`rabbitmqctl list_user_permissions` (no user: no permissions)."""
        if user not in self.users():
            return {}
        rows = self.run("list_user_permissions", user).splitlines()
        return {
            vhost: Grant(configure, write, read)
            for vhost, configure, write, read in (row.split("\t") for row in rows if row)
        }

    def users(self) -> set[str]:
        """The names of the broker's users."""
        return {line.split("\t")[0] for line in self.run("list_users").splitlines() if line}
