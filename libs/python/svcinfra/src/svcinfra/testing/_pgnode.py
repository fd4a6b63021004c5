"""`PrivatePostgres`: a PostgreSQL server of a test's own, to stop, restart and kill at will.

A test that needs a PostgreSQL outage must not stop the machine's shared server (every other test
and developer uses it). It starts its own: `initdb` into a fresh data directory, its own port and
socket directory, trust authentication on loopback only, then `pg_ctl start/stop/restart` and
`stop -m immediate` (a crash: no checkpoint, recovery on the next start). Leaving the `with`
block stops it and removes the directory, also after a failure; a guard process (`Reaper`) does
the same if the test process is killed outright.

    with PrivatePostgres(port=16801) as pg:
        dsn = pg.dsn                          # postgresql://postgres@127.0.0.1:16801/postgres
        pg.restart()
        pg.kill()                             # immediate shutdown
        pg.start()

A streaming standby (issue 20): `pg.standby(port)` copies the running server with
`pg_basebackup -R -X stream` into a directory of its own and starts it on `port`, replicating;
`standby.promote()` makes it a primary (`pg_ctl promote`). Both are `PrivatePostgres` objects,
closed each on its own.

    with PrivatePostgres(port=16801) as primary, primary.standby(port=16802) as standby:
        primary.stop()
        standby.promote()

With `tls=ServerTls(cert, key, ca)` the server also listens with TLS (`ssl = on`, the files copied
into the data directory, owned by the server's user, mode 0600); `require_client_cert` makes
TCP clients present a certificate signed by `ca` (`hostssl ... clientcert=verify-ca`, no plain
`host` line).

The binaries are those of the newest `/usr/lib/postgresql/<version>/bin` (Debian's layout, the
packages `scripts/infra.sh up` installs), or of `SVCINFRA_PG_BINDIR`. `initdb` refuses to run as
root: as root the server runs as the `postgres` OS user the packages create.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Self

from ._reaper import PrivateServerError, Reaper

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType

    from ._tlscerts import ServerTls

HOST = "127.0.0.1"
SUPERUSER = "postgres"
_DEBIAN_ROOT = Path("/usr/lib/postgresql")
_SERVER_USER = "postgres"
_START_TIMEOUT = 60
_STOP_TIMEOUT = 60
# A test server: no fsync (an OS crash is not what it survives; a process crash it does), room
# for a whole stack's pools, logs in the data directory's neighbour `postgres.log`.
_SETTINGS = {
    "listen_addresses": f"'{HOST}'",
    "max_connections": "200",
    "shared_buffers": "32MB",
    "fsync": "off",
    "full_page_writes": "off",
    "logging_collector": "off",
}


def postgres_bindir() -> Path:
    """The directory of `initdb` and `pg_ctl`: `SVCINFRA_PG_BINDIR`, or the newest Debian one.

    Raises:
        PrivateServerError: no PostgreSQL server binaries are installed.
    """
    configured = os.environ.get("SVCINFRA_PG_BINDIR")
    if configured:
        return Path(configured)
    versions = sorted(
        (p for p in _DEBIAN_ROOT.glob("*/bin/initdb") if p.parts[-3].isdigit()),
        key=lambda p: int(p.parts[-3]),
    )
    if not versions:
        raise PrivateServerError(
            f"no PostgreSQL server binaries under {_DEBIAN_ROOT}/<version>/bin"
            " (scripts/infra.sh up installs them) and SVCINFRA_PG_BINDIR is not set"
        )
    return versions[-1].parent


class PrivatePostgres:
    """A PostgreSQL server on 127.0.0.1:`port` with a data directory of its own.

    Args:
        port: the TCP port (loopback only).
        base_dir: where its temporary directory goes (default: the system's temporary
            directory); as root it must be reachable by the `postgres` OS user.
        settings: `postgresql.conf` settings over the test defaults (values as written there).
        tls: the server's certificate, key and client CA: TLS on (issue 17).
    """

    def __init__(
        self,
        port: int,
        *,
        base_dir: Path | None = None,
        settings: Mapping[str, str] | None = None,
        tls: ServerTls | None = None,
    ) -> None:
        self.port = port
        self.tls = tls
        self.host = HOST
        self._base_dir = base_dir
        self._settings = _SETTINGS | dict(settings or {})
        self._bindir = postgres_bindir()
        self._user = _SERVER_USER if os.geteuid() == 0 else None
        self._reaper = Reaper()
        self.root: Path | None = None

    @property
    def dsn(self) -> str:
        """The superuser's libpq URL of the `postgres` database (trust auth: no password)."""
        return self.dsn_for("postgres")

    @property
    def url(self) -> str:
        """The same as `dsn`."""
        return self.dsn

    def dsn_for(self, database: str, user: str = SUPERUSER) -> str:
        """The libpq URL of `database` as `user`."""
        return f"postgresql://{user}@{self.host}:{self.port}/{database}"

    @property
    def data_dir(self) -> Path:
        """The data directory (`PGDATA`)."""
        return self._root() / "data"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self._root() / "postgres.log"

    def setup(self) -> Self:
        """Create the data directory (`initdb`), then start the server.

        Raises:
            PrivateServerError: initdb or the start failed (with the command's output).
        """
        if self.root is not None:
            raise PrivateServerError("this server is set up already")
        self._reaper.start()
        self.root = Path(tempfile.mkdtemp(prefix="svcinfra-pg-", dir=self._base_dir))
        self._reaper.watch(dirs=[self.root])
        try:
            self._initdb()
            self._reaper.watch(commands=[(self._pg_ctl_argv("stop", "immediate"), self._user)],
                               dirs=[self.root])  # fmt: skip
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def standby(self, port: int) -> PrivatePostgres:
        """Return a streaming standby of this (running) server on `port`, started.

        Raises:
            PrivateServerError: the base backup or the start failed (with the command's output).
        """
        standby = PrivatePostgres(port, base_dir=self._base_dir)
        standby._setup_from(self)
        return standby

    def _setup_from(self, primary: PrivatePostgres) -> None:
        if self.root is not None:
            raise PrivateServerError("this server is set up already")
        self._reaper.start()
        self.root = Path(tempfile.mkdtemp(prefix="svcinfra-pg-", dir=self._base_dir))
        self._reaper.watch(dirs=[self.root])
        try:
            sockets = self._own_dirs()
            self._run([
                str(self._bindir / "pg_basebackup"), "-h", primary.host, "-p", str(primary.port),
                "-U", SUPERUSER, "-D", str(self.data_dir), "-R", "-X", "stream",
                "-c", "fast", "--no-sync",
            ])  # fmt: skip
            own = {"port": str(self.port), "unix_socket_directories": f"'{sockets}'"}
            lines = "".join(f"{name} = {value}\n" for name, value in own.items())
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write("\n# svcinfra.testing.PrivatePostgres standby\n" + lines)
            self._reaper.watch(commands=[(self._pg_ctl_argv("stop", "immediate"), self._user)],
                               dirs=[self.root])  # fmt: skip
            self.start()
        except BaseException:
            self.close()
            raise

    def promote(self) -> None:
        """Make this standby a primary (`pg_ctl promote`); return once it accepts writes."""
        self._ctl("promote", "-t", str(_START_TIMEOUT))

    @property
    def in_recovery(self) -> bool:
        """Whether the server is a standby (`pg_is_in_recovery()`), asked over its socket."""
        sockets = self._root() / "sockets"
        argv = [str(self._bindir / "psql"), "-h", str(sockets), "-p", str(self.port),
                "-U", SUPERUSER, "-d", "postgres", "-Atc",
                "SELECT pg_is_in_recovery()"]  # fmt: skip
        done = subprocess.run(  # noqa: S603  (the server's own psql)
            argv, capture_output=True, text=True, timeout=30, check=True
        )
        return done.stdout.strip() == "t"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._ctl("start", "-l", str(self.log_path), "-t", str(_START_TIMEOUT))

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` (roll back sessions, checkpoint), `smart` or `immediate`."""
        self._ctl("stop", "-m", mode, "-t", str(_STOP_TIMEOUT))

    def kill(self) -> None:
        """Stop the server the way a crash does (`-m immediate`: no checkpoint, recovery next)."""
        self.stop("immediate")

    def restart(self) -> None:
        """Stop (fast) and start again on the same port and data directory."""
        self._ctl("restart", "-m", "fast", "-l", str(self.log_path), "-t", str(_START_TIMEOUT))

    @property
    def running(self) -> bool:
        """Whether the server accepts TCP connections on its port."""
        try:
            with socket.create_connection((self.host, self.port), timeout=1):
                return True
        except OSError:
            return False

    def close(self) -> None:
        """Stop the server (immediately) if it runs and remove its directory."""
        root, self.root = self.root, None
        try:
            if root is not None and (root / "data" / "postmaster.pid").exists():
                with contextlib.suppress(PrivateServerError, OSError):
                    self._run(self._pg_ctl_argv("stop", "immediate", root=root))
        finally:
            if root is not None:
                shutil.rmtree(root, ignore_errors=True)
            if root is None or not root.exists():
                self._reaper.release()

    def __enter__(self) -> Self:
        # A standby comes set up already (`standby()` returns it started).
        return self if self.root is not None else self.setup()

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

    def _own_dirs(self) -> Path:
        """Make the root and socket directories the server's user's; return the sockets'."""
        root = self._root()
        sockets = root / "sockets"
        sockets.mkdir()
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            for path in (root, sockets):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        root.chmod(0o700)
        return sockets

    def _initdb(self) -> None:
        sockets = self._own_dirs()
        self._run([
            str(self._bindir / "initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
            "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions",
        ])  # fmt: skip
        settings = self._settings | {
            "port": str(self.port),
            "unix_socket_directories": f"'{sockets}'",
        }
        if self.tls is not None:
            settings |= self._install_tls(self.tls)
        lines = "".join(f"{name} = {value}\n" for name, value in settings.items())
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# svcinfra.testing.PrivatePostgres\n" + lines)

    def _install_tls(self, tls: ServerTls) -> dict[str, str]:
        """Copy the TLS files into the data directory (server's user, 0600); return settings."""
        names = {"server.crt": tls.cert, "server.key": tls.key, "root.crt": tls.ca}
        for name, source in names.items():
            target = self.data_dir / name
            shutil.copyfile(source, target)
            target.chmod(0o600)
            if self._user is not None:
                entry = pwd.getpwnam(self._user)
                os.chown(target, entry.pw_uid, entry.pw_gid)
        if tls.require_client_cert:
            (self.data_dir / "pg_hba.conf").write_text(
                f"local all all trust\nhostssl all all {HOST}/32 trust clientcert=verify-ca\n"
            )
        return {
            "ssl": "on",
            "ssl_cert_file": "'server.crt'",
            "ssl_key_file": "'server.key'",
            "ssl_ca_file": "'root.crt'",
        }

    def _pg_ctl_argv(self, action: str, mode: str, *, root: Path | None = None) -> list[str]:
        data = (root or self._root()) / "data"
        return [str(self._bindir / "pg_ctl"), "-D", str(data), "-m", mode, "-w", action]

    def _ctl(self, action: str, *options: str) -> None:
        self._run([str(self._bindir / "pg_ctl"), "-D", str(self.data_dir), "-w", *options, action])

    def _run(self, argv: list[str]) -> None:
        """Run a server command as the server's OS user; its output goes into the error."""
        root = self.root or Path(tempfile.gettempdir())
        try:
            done = subprocess.run(  # noqa: S603  (the server's own binaries)
                argv,
                user=self._user,
                cwd=root,
                env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=_START_TIMEOUT + 30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PrivateServerError(f"{Path(argv[0]).name} {argv[-1]}: {exc}") from exc
        if done.returncode != 0:
            log = ""
            with contextlib.suppress(OSError):
                log = "\n".join(self.log_path.read_text(errors="replace").splitlines()[-15:])
            raise PrivateServerError(
                f"{Path(argv[0]).name} {argv[-1]} failed ({done.returncode}):"
                f" {done.stdout.strip()[-800:]}" + (f"\nserver log:\n{log}" if log else "")
            )
