"""`PrivateRabbitNode`: a RabbitMQ node of a test's own, for outages, restarts and alarms.

The machine's shared broker (`rabbit@<host>`, 127.0.0.1:5672) serves every test run at once, so a
test never stops, restarts or alarms it. A test that needs a broker outage, a restart with
recovery, a memory alarm or a SIGKILLed broker starts a private node instead:

    with PrivateRabbitNode("svcinfra-test-ab12-1", 16600, 16601, tmp_path) as node:
        ...  # connect to node.url
        node.ctl("set_vm_memory_high_watermark", "0.0000001")  # raise a memory alarm
        node.restart()  # stop the process and start it again on the same data

The node has its own node name, AMQP port, distribution port, data, log and configuration
directories under `base_dir / name` (removed by `close()`), no plugins (management off), and
lets `guest` in from loopback only. With `tls=ServerTls(...)` and `tls_port` it also has an
`ssl_options` listener on 127.0.0.1:`tls_port` (`tls_url`, issue 17); the plain one stays.
Every `rabbitmqctl` call names the private node with `-n`, and
a name that could be the shared node's is refused, so nothing here can reach the shared broker.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import TracebackType

    from ._tlscerts import ServerTls

#: Where Debian's package keeps the scripts that run as the calling user (`/usr/sbin/rabbitmq-*`
#: wrap them to switch to the `rabbitmq` user, whose home holds the shared node's cookie).
_SCRIPTS = Path("/usr/lib/rabbitmq/bin")
_START_TIMEOUT = 90.0
_STOP_TIMEOUT = 60.0


class RabbitNodeError(RuntimeError):
    """The private node failed to start, stop or answer a `rabbitmqctl` command."""


class PrivateRabbitNode:
    """A RabbitMQ node of one test's own on loopback (see the module docstring).

    Args:
        name: the node's short name, e.g. `svcinfra-test-<run>-<n>`; the node is `name@localhost`.
        amqp_port: the AMQP listener, on 127.0.0.1.
        dist_port: the Erlang distribution listener (`inet_dist_listen_min/max`).
        base_dir: the node's files live in `base_dir / name`, removed by `close()`.
        ctl_dist_port: the distribution port `rabbitmqctl` itself listens on while it runs
            (default `dist_port + 1`); calls to `ctl()` are serialised, so one port is enough.
        erl_args: extra Erlang arguments of the node, e.g. application settings such as
            `-rabbit dead_letter_worker_publisher_confirm_timeout 1000`.
        tls: the server's certificate, key and client CA of a TLS listener (issue 17).
        tls_port: the TLS listener's port, on 127.0.0.1 (required with `tls`).
        cookie: the Erlang cookie (nodes of one cluster share it; default: a random one of
            this node's own, written by Erlang on the first start).
    """

    def __init__(
        self,
        name: str,
        amqp_port: int,
        dist_port: int,
        base_dir: Path,
        *,
        ctl_dist_port: int | None = None,
        erl_args: str = "",
        tls: ServerTls | None = None,
        tls_port: int | None = None,
        cookie: str | None = None,
    ) -> None:
        if (tls is None) != (tls_port is None):
            raise ValueError("give both tls and tls_port, or neither")
        if "@" in name or not name or name == "rabbit" or name.startswith("rabbit@"):
            raise ValueError(
                f"private node name {name!r}: give a short name such as svcinfra-test-<run>-<n>"
            )
        self.name = name
        self.node = f"{name}@localhost"
        self.amqp_port = amqp_port
        self.dist_port = dist_port
        self.ctl_dist_port = dist_port + 1 if ctl_dist_port is None else ctl_dist_port
        self.dir = Path(base_dir) / name
        self.erl_args = erl_args
        self.tls = tls
        self.tls_port = tls_port
        self.cookie = cookie
        self._process: subprocess.Popen[bytes] | None = None
        self._ctl_lock = threading.Lock()

    # -- addresses ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The AMQP URL of the node (guest, loopback only)."""
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def tls_url(self) -> str:
        """The `amqps` URL of the TLS listener (guest, loopback only)."""
        if self.tls_port is None:
            raise RabbitNodeError(f"{self.node} has no TLS listener")
        return f"amqps://guest:guest@127.0.0.1:{self.tls_port}/"

    @property
    def pid(self) -> int | None:
        """The OS process id of the node's Erlang VM, None when it is not running."""
        process = self._process
        return process.pid if process is not None and process.poll() is None else None

    # -- life cycle ----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self, timeout: float = _START_TIMEOUT) -> Self:
        """Start the node (on the data of an earlier run, if any); return once it serves AMQP."""
        if self.pid is not None:
            return self
        if not (_SCRIPTS / "rabbitmq-server").exists():
            raise RabbitNodeError(
                f"{_SCRIPTS / 'rabbitmq-server'} is missing: install RabbitMQ "
                "(`scripts/infra.sh up` does, with apt)"
            )
        self._write_files()
        with (self.dir / "log" / "console.log").open("ab") as console:
            self._process = subprocess.Popen(  # noqa: S603  (a fixed script, arguments from this class)
                [str(_SCRIPTS / "rabbitmq-server")],
                env=self._env(),
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RabbitNodeError(f"{self.node} exited during start-up:\n{self.console_tail()}")
            if _port_open(self.amqp_port):
                try:
                    self.ctl("await_startup", timeout=max(1.0, deadline - time.monotonic()))
                except RabbitNodeError:
                    if time.monotonic() >= deadline:
                        raise
                else:
                    return self
            if time.monotonic() >= deadline:
                self.kill()
                raise RabbitNodeError(
                    f"{self.node} did not start within {timeout} s:\n{self.console_tail()}"
                )
            time.sleep(0.2)

    def stop(self, timeout: float = _STOP_TIMEOUT) -> None:
        """Stop the node's process cleanly (`rabbitmqctl stop`), keeping its data directory."""
        process = self._process
        if process is None or process.poll() is not None:
            self._process = None
            return
        with contextlib.suppress(RabbitNodeError):
            self.ctl("stop", timeout=timeout)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._process = None

    def kill(self) -> None:
        """SIGKILL the node (a crash: no clean shutdown); the data directory stays for `start()`."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=_STOP_TIMEOUT)
        self._process = None

    def restart(self, timeout: float = _START_TIMEOUT) -> None:
        """Stop the node's process and start it again on the same data (a broker restart)."""
        self.stop()
        self.start(timeout=timeout)

    def stop_app(self) -> None:
        """Stop the RabbitMQ application, the Erlang VM stays up (clients see the broker down)."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        """Start the RabbitMQ application again after `stop_app()` and wait until it serves AMQP."""
        self.ctl("start_app")
        self.ctl("await_startup")

    def close(self) -> None:
        """Stop the node (kill it if it does not stop) and remove its directory."""
        try:
            self.stop()
        finally:
            self.kill()
            shutil.rmtree(self.dir, ignore_errors=True)

    # -- commands --------------------------------------------------------------------------

    def ctl(self, *args: str, timeout: float = 60.0) -> str:
        """Run `rabbitmqctl -n <this node> <args>` and return its standard output.

        Raises:
            RabbitNodeError: the command failed or did not finish within `timeout` seconds.
        """
        command = [str(_SCRIPTS / "rabbitmqctl"), "-n", self.node, "--quiet", *args]
        with self._ctl_lock:
            try:
                done = subprocess.run(  # noqa: S603  (a fixed script, this node's name)
                    command,
                    env=self._env(),
                    cwd=self.dir,
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired as exc:
                raise RabbitNodeError(
                    f"rabbitmqctl {' '.join(args)} on {self.node}: no answer in {timeout} s"
                ) from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            raise RabbitNodeError(
                f"rabbitmqctl {' '.join(args)} on {self.node} failed ({done.returncode}): {output}"
            )
        return done.stdout.decode(errors="replace")

    def join(self, other: PrivateRabbitNode) -> None:
        """Make this node a member of `other`'s cluster (same cookie needed); it serves again."""
        self.ctl("stop_app")
        self.ctl("reset")
        self.ctl("join_cluster", other.node)
        self.start_app()

    def set_memory_alarm(self, *, raised: bool) -> None:
        """Raise the memory alarm (a watermark no node fits under) or lift it (the default 0.4)."""
        self.ctl("set_vm_memory_high_watermark", "0.0000001" if raised else "0.4")

    def console_tail(self, lines: int = 40) -> str:
        """The last lines of the node's console output (for error messages)."""
        path = self.dir / "log" / "console.log"
        try:
            return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no console output)"

    # -- files and environment -------------------------------------------------------------

    def _write_files(self) -> None:
        (self.dir / "log").mkdir(parents=True, exist_ok=True)
        (self.dir / "mnesia").mkdir(exist_ok=True)
        (self.dir / "rabbitmq.conf").write_text(
            "\n".join(
                [
                    f"listeners.tcp.default = 127.0.0.1:{self.amqp_port}",
                    "loopback_users.guest = true",
                    "log.console = true",
                    "log.console.level = warning",
                    "log.file = false",
                    "disk_free_limit.absolute = 10MB",
                    *self._tls_lines(),
                    "",
                ],
            ),
        )
        (self.dir / "enabled_plugins").write_text("[].\n")
        if self.cookie is not None:
            # Erlang reads the cookie from $HOME (this directory) and insists on mode 0400.
            cookie = self.dir / ".erlang.cookie"
            if cookie.exists():
                cookie.chmod(0o600)
            cookie.write_text(self.cookie)
            cookie.chmod(0o400)
        # An empty environment file: the machine's /etc/rabbitmq/rabbitmq-env.conf names the
        # shared node, and must not be read for this one.
        (self.dir / "rabbitmq-env.conf").write_text("")

    def _tls_lines(self) -> list[str]:
        tls = self.tls
        if tls is None:
            return []
        return [
            f"listeners.ssl.default = 127.0.0.1:{self.tls_port}",
            f"ssl_options.cacertfile = {tls.ca}",
            f"ssl_options.certfile = {tls.cert}",
            f"ssl_options.keyfile = {tls.key}",
            "ssl_options.verify = verify_peer",
            f"ssl_options.fail_if_no_peer_cert = {str(tls.require_client_cert).lower()}",
        ]

    def _env(self) -> dict[str, str]:
        base = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("RABBITMQ_", "ERL_"))
        }
        return {
            **base,
            # The Erlang cookie lives in $HOME: the node and its rabbitmqctl calls share this one.
            "HOME": str(self.dir),
            "RABBITMQ_CONF_ENV_FILE": str(self.dir / "rabbitmq-env.conf"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_USE_LONGNAME": "false",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.amqp_port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_CTL_DIST_PORT_MIN": str(self.ctl_dist_port),
            "RABBITMQ_CTL_DIST_PORT_MAX": str(self.ctl_dist_port),
            "RABBITMQ_CONFIG_FILE": str(self.dir / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.dir / "advanced.config"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.dir / "enabled_plugins"),
            "RABBITMQ_MNESIA_BASE": str(self.dir / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.dir / "log"),
            "RABBITMQ_PID_FILE": str(self.dir / "node.pid"),
            "RABBITMQ_FEATURE_FLAGS_FILE": str(self.dir / "feature_flags"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.dir / "plugins-expand"),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": (
                f"-kernel inet_dist_use_interface {{127,0,0,1}} {self.erl_args}".strip()
            ),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0
