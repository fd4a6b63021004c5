"""The launcher's command line: `run` (the stack in the foreground) and `demo`."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from ._demo import run_demo
from ._plan import Ports
from ._process import ProcessError
from ._provision import ProvisionError
from ._stack import Stack

if TYPE_CHECKING:
    from types import FrameType

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_WATCH_INTERVAL = 0.2


class _Interrupted(BaseException):
    """A stop signal arrived (raised from the signal handler, once)."""


def _say(text: str) -> None:
    sys.stderr.write(f"stack: {text}\n")
    sys.stderr.flush()


def _on_signal(signum: int, _frame: FrameType | None) -> NoReturn:
    # Later signals are ignored: the stop in progress is already the graceful one.
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    raise _Interrupted(signal.Signals(signum).name)


def _replicas(specs: list[str]) -> dict[str, int]:
    replicas = {}
    for spec in specs:
        role, _, count = spec.partition("=")
        if not count.isdigit() or int(count) < 1:
            raise SystemExit(f"--replicas takes ROLE=N with N >= 1, not {spec!r}")
        replicas[role] = int(count)
    return replicas


def run(args: argparse.Namespace) -> int:
    """Start the stack, print its URLs, and stop it on SIGINT / SIGTERM (exit 0)."""
    stack = Stack(
        run_id=args.run_id,
        ports=Ports.free() if args.free_ports else Ports(),
        replicas=_replicas(args.replicas),
        log_dir=args.log_dir,
        secrets_file=args.secrets_file,
        on_step=_say,
        services=args.service or None,
    )
    for sig in STOP_SIGNALS:
        signal.signal(sig, _on_signal)
    status = 0
    try:
        stack.start()
        sys.stdout.write(stack.summary() + "\n\nCtrl-C stops everything.\n")
        sys.stdout.flush()
        while True:
            dead = [p for p in stack.processes.values() if not p.running]
            if dead:
                for process in dead:
                    _say(f"{process.name} exited ({process.returncode}); see {process.log_path}")
                status = 1
                break
            time.sleep(_WATCH_INTERVAL)
    except _Interrupted as signum:
        _say(f"{signum}: stopping")
    except (ProcessError, ProvisionError) as exc:
        _say(f"failed: {exc}")
        status = 1
    for sig in STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    statuses = stack.stop()
    _say("stopped: " + ", ".join(f"{name} {code}" for name, code in statuses.items()))
    return status


def demo(_args: argparse.Namespace) -> int:
    """Register a user against a running `make run`, or a stack started for the demo."""
    stack = Stack(on_step=_say)
    running = all(p.readyz() == 200 for p in stack.processes.values())  # noqa: PLR2004
    if not running:
        _say("no running stack on the default ports: starting one for the demo")
        stack.start()
    try:
        asyncio.run(run_demo(stack))
    finally:
        if not running:
            statuses = stack.stop()
            _say("stopped: " + ", ".join(f"{name} {code}" for name, code in statuses.items()))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run a command."""
    parser = argparse.ArgumentParser(prog="python -m devstack", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="start the stack in the foreground")
    run_parser.add_argument(
        "--run-id", help="suffix of every database and broker name; dropped on exit"
    )
    run_parser.add_argument(
        "--free-ports",
        action="store_true",
        help="pick free ports instead of 8080-8091 (and 8100 on for the other services)",
    )
    run_parser.add_argument(
        "--service",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this service (repeatable; fake-mail comes along with a service that "
        "calls an external API); default: every service under services/",
    )
    run_parser.add_argument(
        "--replicas",
        action="append",
        default=[],
        metavar="ROLE=N",
        help="run N processes of ROLE (users-api, users-relay, notifications-consumer, "
        "<service>-api, ...)",
    )
    run_parser.add_argument(
        "--log-dir", type=Path, help="where <process>.log files go (default .run/logs)"
    )
    run_parser.add_argument(
        "--secrets-file",
        type=Path,
        help="keep the generated secrets here, mode 0600 (default .run/secrets.env; "
        "in memory with --run-id)",
    )
    run_parser.set_defaults(func=run)
    demo_parser = commands.add_parser("demo", help="register a user and show the welcome email")
    demo_parser.set_defaults(func=demo)
    args = parser.parse_args(argv)
    return int(args.func(args))
