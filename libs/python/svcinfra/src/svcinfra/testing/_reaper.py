"""`Reaper`: a guard process that removes a private server when the process that started it dies.

A test that starts its own PostgreSQL or Redis removes it on the way out; a test process that is
SIGKILLed (a CI timeout, `kill -9`, an OOM kill) never gets there, and the server would live on,
holding its port and its data directory. So each private server has a guard: a small process in
a session of its own (a Ctrl-C or a kill of the test's process group does not reach it) that reads
its instructions from a pipe. The test process holds the only write end, so the kernel closes it
however the test ends; on end-of-file without a `done` line the guard carries out the last
instructions it was given: run the stop commands, SIGKILL the processes, remove the directories.

    python -m svcinfra.testing._reaper        # the guard itself; its stdin is the pipe
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Self

if TYPE_CHECKING:
    from collections.abc import Sequence
    from types import TracebackType

_DONE = "done"
_COMMAND_TIMEOUT = 30.0


class PrivateServerError(RuntimeError):
    """A private server could not be set up, started or stopped (the message says why)."""


class Reaper:
    """The guard of one private server: tell it what to remove; `release` when removed already.

    with Reaper() as reaper:
        reaper.watch(dirs=[data_dir])
        ...start the server...
        reaper.watch(pids=[pid], dirs=[data_dir])
        ...
        (stop the server, remove data_dir)
    # leaving the block releases the guard
    """

    def __init__(self) -> None:
        self._process: subprocess.Popen[str] | None = None

    def start(self) -> Self:
        """Start the guard process."""
        self._process = subprocess.Popen(  # noqa: S603  (this interpreter, this module)
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,  # out of reach of a signal to the test's process group
        )
        return self

    @property
    def pid(self) -> int | None:
        """The guard's process id (None before `start`)."""
        return None if self._process is None else self._process.pid

    def watch(
        self,
        *,
        commands: Sequence[tuple[Sequence[str], str | None]] = (),
        pids: Sequence[int] = (),
        process_groups: Sequence[int] = (),
        dirs: Sequence[Path] = (),
    ) -> None:
        """Replace the instructions: what to run (argv, OS user), kill and remove on a death.

        Commands run first (each bounded in time), then the processes and process groups are
        SIGKILLed, then the directories removed.
        """
        spec = {
            "commands": [[list(argv), user] for argv, user in commands],
            "pids": list(pids),
            "process_groups": list(process_groups),
            "dirs": [str(d) for d in dirs],
        }
        self._send(json.dumps(spec))

    def release(self) -> None:
        """The server is gone: the guard exits without doing anything."""
        process, self._process = self._process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            self._send_to(process.stdin, _DONE)
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def _send(self, line: str) -> None:
        if self._process is None:
            raise RuntimeError("the reaper is not started")
        self._send_to(self._process.stdin, line)

    @staticmethod
    def _send_to(pipe: IO[str] | None, line: str) -> None:
        if pipe is None:
            raise RuntimeError("the reaper has no pipe")
        pipe.write(line + "\n")
        pipe.flush()


def reap(spec: dict[str, Any]) -> None:
    """Carry out `spec`: run its commands, SIGKILL its processes, remove its directories."""
    if not spec:
        return
    for argv, user in spec.get("commands", []):
        with contextlib.suppress(OSError, subprocess.SubprocessError, KeyError):
            subprocess.run(  # noqa: S603  (argv written by the test kit, not by input)
                argv,
                user=user,
                cwd="/",
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=_COMMAND_TIMEOUT,
                check=False,
            )
    for pid in spec.get("pids", []):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    for group in spec.get("process_groups", []):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)
    for directory in spec.get("dirs", []):
        for _ in range(50):  # a dying process may still write into it for a moment
            shutil.rmtree(directory, ignore_errors=True)
            if not Path(directory).exists():
                break
            time.sleep(0.1)


def main() -> int:
    """Read instructions until `done` (exit) or end-of-file (the test died: carry them out)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    spec: dict[str, Any] = {}
    for line in sys.stdin:
        if line.strip() == _DONE:
            return 0
        with contextlib.suppress(ValueError):
            spec = json.loads(line)
    reap(spec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
