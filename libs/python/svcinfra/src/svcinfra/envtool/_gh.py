"""The GitHub environments, reached through the `gh` command line (CF-5).

Every call is a subprocess of the `gh` found on PATH: `gh auth status` before anything else,
`gh variable list --env E --json name` and `gh secret list --env E --json name` to read what
exists, `gh variable set NAME --env E --body VALUE` (a variable's value is not secret, and this is
CF-5's own spelling) and `gh secret set NAME --env E` with the value on standard input only: never
in argv (visible to every user of the machine in `ps`), never printed, never logged. `gh` reads a
piped standard input as the value and trims a trailing newline; generated values have none.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from typing import Protocol

from ._errors import GhCommandError, GhUnavailable

MASK = "***"


@dataclass(frozen=True, slots=True)
class Existing:
    """The names of the variables and secrets that exist in one GitHub environment."""

    variables: frozenset[str]
    secrets: frozenset[str]

    def has(self, kind: str, name: str) -> bool:
        """Tell whether a `variable` or `secret` called `name` exists (GitHub names are upper)."""
        names = self.secrets if kind == "secret" else self.variables
        return name.upper() in names


class Environments(Protocol):
    """The port `plan` and `apply` use to read and create entries of GitHub environments."""

    def check_ready(self) -> None:
        """Raise `GhUnavailable` unless entries can be read and created."""

    def existing(self, environment: str) -> Existing:
        """Return what exists in `environment`."""

    def set_variable(self, environment: str, name: str, value: str) -> None:
        """Create the variable `name` in `environment`."""

    def set_secret(self, environment: str, name: str, value: str) -> None:
        """Create the secret `name` in `environment`, passing `value` on standard input."""


class GhCli:
    """`Environments` implemented by running `gh`.

    Args:
        repo: `OWNER/REPO` passed as `--repo`; by default gh uses the current git checkout.
        timeout: seconds one `gh` call may take.
    """

    def __init__(self, *, repo: str | None = None, timeout: float = 60.0) -> None:
        self._repo = repo
        self._timeout = timeout
        self._executable: str | None = None

    def check_ready(self) -> None:
        """Find `gh` on PATH and check `gh auth status`; raise `GhUnavailable` otherwise."""
        self._executable = shutil.which("gh")
        if self._executable is None:
            raise GhUnavailable(
                "gh (the GitHub CLI) is not on PATH; install it from https://cli.github.com",
            )
        try:
            self._run(("auth", "status"))
        except GhCommandError as exc:
            raise GhUnavailable(
                f"gh is not authenticated ({exc.detail}); run `gh auth login` first",
            ) from exc

    def existing(self, environment: str) -> Existing:
        """Read the names of the variables and secrets of `environment`."""
        return Existing(
            variables=self._names("variable", environment),
            secrets=self._names("secret", environment),
        )

    def set_variable(self, environment: str, name: str, value: str) -> None:
        """Run `gh variable set NAME --env E --body VALUE`."""
        self._run(
            ("variable", "set", name, "--env", environment, "--body", value, *self._repo_args)
        )

    def set_secret(self, environment: str, name: str, value: str) -> None:
        """Run `gh secret set NAME --env E` with `value` on standard input, never in argv."""
        self._run(("secret", "set", name, "--env", environment, *self._repo_args), stdin=value)

    @property
    def _repo_args(self) -> tuple[str, ...]:
        return ("--repo", self._repo) if self._repo else ()

    def _names(self, kind: str, environment: str) -> frozenset[str]:
        args = (kind, "list", "--env", environment, "--json", "name", *self._repo_args)
        out = self._run(args)
        try:
            rows = json.loads(out or "[]")
            return frozenset(str(row["name"]).upper() for row in rows)
        except (ValueError, TypeError, KeyError) as exc:
            raise GhCommandError(
                args, f"unexpected output, not a JSON list of names: {exc}"
            ) from exc

    def _run(self, args: tuple[str, ...], *, stdin: str | None = None) -> str:
        executable = self._executable or shutil.which("gh")
        if executable is None:
            raise GhUnavailable("gh (the GitHub CLI) is not on PATH")
        env = os.environ | {"GH_PROMPT_DISABLED": "1", "NO_COLOR": "1"}
        try:
            done = subprocess.run(  # noqa: S603  (fixed arguments, no shell; values are not parsed)
                (executable, *args),
                input=stdin if stdin is not None else "",
                capture_output=True,
                text=True,
                timeout=self._timeout,
                env=env,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise GhCommandError(args, f"timed out after {self._timeout:g} s") from exc
        except OSError as exc:
            raise GhCommandError(args, str(exc)) from exc
        if done.returncode != 0:
            raise GhCommandError(args, _last_line(done.stderr, done.returncode, stdin))
        return done.stdout


def _last_line(stderr: str, code: int, secret: str | None) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    detail = lines[-1] if lines else f"exit status {code}"
    # gh does not echo a secret, but a message is printed by us: make sure of it.
    return detail.replace(secret, MASK) if secret else detail
