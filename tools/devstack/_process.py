"""One service process of the stack: started as a user would, its output in a log file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

STOP_GRACE = 15.0  # seconds after SIGTERM before SIGKILL: SHUTDOWN_TIMEOUT plus start-up slack
_POLL = 0.05


class ProcessError(RuntimeError):
    """A process exited or did not become ready; the message ends with its last log lines."""


def http_status(url: str, *, timeout: float = 2.0) -> int | None:
    """The status of a GET to `url`, or None when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310  (loopback)
            return int(response.status)
    except urllib.error.HTTPError as error:
        error.close()
        return int(error.code)
    except OSError:
        return None


@dataclass(eq=False)
class Process:
    """A service process: its command, environment, ports and log file.

    `start` spawns it in its own session (a terminal's Ctrl-C reaches the launcher only, which
    stops the processes in order); `stop` sends SIGTERM and waits for the graceful shutdown,
    then SIGKILLs; `kill` is the crash; `restart` stops and starts it with the same ports.
    """

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(repr=False)
    log_path: Path
    tech_port: int
    api_port: int | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        """The process id of the current run, if started."""
        return self.popen.pid if self.popen is not None else None

    @property
    def running(self) -> bool:
        """Whether the current run has not exited."""
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        """The exit status of the last run, None while it runs or before it started."""
        return self.popen.poll() if self.popen is not None else None

    @property
    def tech_url(self) -> str:
        """Base URL of `/health/livez`, `/health/readyz` and `/metrics`."""
        return f"http://127.0.0.1:{self.tech_port}"

    @property
    def api_url(self) -> str:
        """Base URL of the service's API."""
        if self.api_port is None:
            raise AttributeError(f"{self.name} serves no API")
        return f"http://127.0.0.1:{self.api_port}"

    def start(self) -> None:
        """Spawn the process, appending its stdout and stderr to its log file."""
        if self.running:
            raise ProcessError(f"{self.name} is already running")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603  (the service's own console script)
                list(self.argv),
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def readyz(self) -> int | None:
        """The status of `/health/readyz`, None when nothing answers."""
        return http_status(f"{self.tech_url}/health/readyz")

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Wait until `/health/readyz` answers 200.

        Raises:
            ProcessError: it exited first, or was not ready within `timeout` seconds.
        """
        deadline = time.monotonic() + timeout
        while self.readyz() != 200:  # noqa: PLR2004
            if not self.running:
                raise ProcessError(f"{self.name} exited ({self.returncode}){self._tail()}")
            if time.monotonic() > deadline:
                raise ProcessError(f"{self.name} not ready within {timeout:.0f} s{self._tail()}")
            time.sleep(_POLL)

    def send_signal(self, signum: int) -> None:
        """Send `signum` to the process, if it runs."""
        if self.popen is not None and self.running:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signum)

    def stop(self, grace: float = STOP_GRACE) -> int | None:
        """SIGTERM, wait up to `grace` seconds, then SIGKILL; return the exit status."""
        self.send_signal(signal.SIGTERM)
        return self.wait(grace)

    def wait(self, grace: float = STOP_GRACE) -> int | None:
        """Wait for the exit up to `grace` seconds, then SIGKILL; return the exit status."""
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            return self.kill()

    def kill(self) -> int | None:
        """SIGKILL (a crash: no shutdown) and reap; return the exit status."""
        if self.popen is None:
            return None
        self.send_signal(signal.SIGKILL)
        return self.popen.wait(timeout=10)

    def restart(self, *, timeout: float = 60.0) -> None:
        """Stop (gracefully) if running, start again with the same ports, wait until ready."""
        if self.running:
            self.stop()
        self.start()
        self.wait_ready(timeout)

    def log_text(self) -> str:
        """Everything the process wrote so far (all its runs)."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def log_entries(self) -> list[dict[str, object]]:
        """The JSON log lines the process wrote; lines that are not JSON are left out."""
        entries = []
        for line in self.log_text().splitlines():
            with contextlib.suppress(ValueError):
                entry = json.loads(line)
                if isinstance(entry, dict):
                    entries.append(entry)
        return entries

    def _tail(self, lines: int = 30) -> str:
        tail = self.log_text().splitlines()[-lines:]
        return f"; last lines of {self.log_path}:\n" + "\n".join(tail) if tail else ""


def environment(extra: Mapping[str, str]) -> dict[str, str]:
    """A clean process environment: the basics of the caller's, and `extra`.

    Nothing else is inherited, so a stray `USERS_*` in the developer's shell cannot change what
    the stack runs.
    """
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env["TZ"] = "UTC"
    env["PYTHONUNBUFFERED"] = "1"
    return env | dict(extra)
