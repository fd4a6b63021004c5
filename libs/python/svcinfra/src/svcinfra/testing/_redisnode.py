"""`PrivateRedis`: a `redis-server` of a test's own, to stop, restart and kill at will.

A test that needs a Redis outage must not shut down the machine's shared Redis. It starts its own
`redis-server` on its own port and working directory, without persistence (a restart comes back
empty, as a cache does) unless `persist=True` (an append-only file: what was written survives a
restart). Leaving the `with` block stops it and removes the directory, also after a failure; a
guard process (`Reaper`) does the same if the test process is killed outright.

    with PrivateRedis(port=16802) as redis:
        url = redis.url                       # redis://127.0.0.1:16802/0
        redis.stop()                          # SHUTDOWN-like: SIGTERM, no save
        redis.start()
        redis.kill()                          # SIGKILL

With `tls=ServerTls(cert, key, ca)` it listens with TLS only (`--tls-port`, `--port 0`): `url` is
then `rediss://`, and `require_client_cert` sets `--tls-auth-clients yes` (issue 17).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Self

from ._reaper import PrivateServerError, Reaper

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

    from ._tlscerts import ServerTls

HOST = "127.0.0.1"
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 30.0


class PrivateRedis:
    """A `redis-server` on 127.0.0.1:`port` with a working directory of its own.

    Args:
        port: the TCP port (loopback only).
        base_dir: where its temporary directory goes (default: the system's temporary directory).
        persist: keep an append-only file, so that data survives `stop`/`kill` and `start`.
        tls: the server's certificate, key and client CA: TLS only (issue 17).
        extra_args: more `redis-server` options (`--replicaof 127.0.0.1 16802`).
    """

    def __init__(
        self,
        port: int,
        *,
        base_dir: Path | None = None,
        persist: bool = False,
        tls: ServerTls | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.port = port
        self.extra_args = list(extra_args)
        self.tls = tls
        self.host = HOST
        self._base_dir = base_dir
        self._persist = persist
        self._process: subprocess.Popen[bytes] | None = None
        self._reaper = Reaper()
        self.root: Path | None = None

    @property
    def url(self) -> str:
        """The URL of database 0 (no password)."""
        scheme = "redis" if self.tls is None else "rediss"
        return f"{scheme}://{self.host}:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """The server's process id while it runs."""
        return None if self._process is None else self._process.pid

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self._root() / "redis.log"

    def setup(self) -> Self:
        """Create the working directory and start the server.

        Raises:
            PrivateServerError: `redis-server` is missing or did not answer PING in time.
        """
        if self.root is not None:
            raise PrivateServerError("this server is set up already")
        self._reaper.start()
        self.root = Path(tempfile.mkdtemp(prefix="svcinfra-redis-", dir=self._base_dir))
        self._reaper.watch(dirs=[self.root])
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def start(self) -> None:
        """Start the server (if stopped) and wait until it answers PING."""
        if self._process is not None and self._process.poll() is None:
            return
        exe = shutil.which("redis-server") or shutil.which(
            "redis-server", path="/usr/bin:/usr/sbin"
        )
        if exe is None:
            raise PrivateServerError("redis-server is not installed (scripts/infra.sh up does it)")
        root = self._root()
        argv = self._command(exe, root)
        self._process = subprocess.Popen(  # noqa: S603  (the installed redis-server)
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # a Ctrl-C of the test is not the server's
        )
        self._reaper.watch(pids=[self._process.pid], dirs=[root])
        deadline = time.monotonic() + _START_TIMEOUT
        while not self.running:
            if self._process.poll() is not None or time.monotonic() > deadline:
                status = self._process.poll()
                self._kill_process()
                log = ""
                with contextlib.suppress(OSError):
                    log = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-10:])
                raise PrivateServerError(
                    f"redis-server on port {self.port} did not answer PING"
                    f" (exit status {status}):\n{log}"
                )
            time.sleep(0.02)

    def _command(self, exe: str, root: Path) -> list[str]:
        """The server's command line (a sentinel of `PrivateRedisSentinel` has its own)."""
        persistence = ["--appendonly", "yes"] if self._persist else ["--appendonly", "no"]
        return [
            exe, *self._listen(), "--bind", HOST, "--save", "", *persistence,
            "--dir", str(root), "--logfile", str(self.log_path), "--daemonize", "no",
            "--protected-mode", "no", *self.extra_args,
        ]  # fmt: skip

    def stop(self) -> None:
        """Stop the server as a shutdown does (SIGTERM: no save without persistence), and wait."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._forget()

    def kill(self) -> None:
        """SIGKILL the server (a crash)."""
        self._kill_process()

    def restart(self) -> None:
        """Stop and start again on the same port and directory."""
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        """Whether the server answers PING (over TLS with a client certificate-less probe)."""
        try:
            with contextlib.ExitStack() as stack:
                sock = stack.enter_context(
                    socket.create_connection((self.host, self.port), timeout=1)
                )
                if self.tls is not None:
                    sock = stack.enter_context(self._probe_context().wrap_socket(sock))
                sock.sendall(b"PING\r\n")
                # A server that wants a client certificate ends the handshake of this probe,
                # which has none: getting that far (no refused connection) means it runs.
                return sock.recv(64).startswith(b"+PONG")
        except ssl.SSLError:
            return self.tls is not None and self.tls.require_client_cert
        except OSError:
            return False

    def _listen(self) -> list[str]:
        tls = self.tls
        if tls is None:
            return ["--port", str(self.port)]
        return [
            "--port", "0", "--tls-port", str(self.port),
            "--tls-cert-file", str(tls.cert), "--tls-key-file", str(tls.key),
            "--tls-ca-cert-file", str(tls.ca),
            "--tls-auth-clients", "yes" if tls.require_client_cert else "no",
        ]  # fmt: skip

    def _probe_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # a liveness probe, not a test of the certificate
        return context

    def close(self) -> None:
        """Stop the server (SIGKILL) if it runs and remove its directory."""
        root, self.root = self.root, None
        try:
            self._kill_process()
        finally:
            if root is not None:
                shutil.rmtree(root, ignore_errors=True)
            if root is None or not root.exists():
                self._reaper.release()

    def __enter__(self) -> Self:
        return self.setup()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _root(self) -> Path:
        if self.root is None:
            raise PrivateServerError("the server is not set up (use it as a context manager)")
        return self.root

    def _kill_process(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        self._forget()

    def _forget(self) -> None:
        self._process = None
        if self.root is not None:
            self._reaper.watch(dirs=[self.root])
