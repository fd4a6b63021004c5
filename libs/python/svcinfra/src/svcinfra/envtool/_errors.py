"""Errors of `svcinfra.envtool`.

```
EnvToolError              root: the tool refused or could not finish
├── ServiceDeclarationError   SERVICE does not declare a usable Config, ENV_PREFIX or name
├── ApplyRefused              a value is missing or an option is invalid; nothing was changed
└── GhError                   a `gh` command could not be run or failed
    ├── GhUnavailable         `gh` is not installed or not authenticated; nothing was changed
    └── GhCommandError       a `gh` command exited non-zero or timed out
```

No message ever holds a secret's value: `GhCommandError` carries the command's arguments (which
never hold one, CF-5) and the last line of its error output with every generated value masked.
"""

from __future__ import annotations


class EnvToolError(Exception):
    """Root of the errors of `svcinfra env`."""


class ServiceDeclarationError(EnvToolError):
    """The service folder or `MODULE:CLASS` does not declare a usable Config (a usage error)."""


class ApplyRefused(EnvToolError):  # noqa: N818  (a refusal, not an error of the tool)
    """`apply` refused to start: every reason is listed, and nothing was changed."""

    def __init__(self, reasons: tuple[str, ...]) -> None:
        self.reasons = reasons
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = ["nothing was changed:"]
        lines.extend(f"  {reason}" for reason in self.reasons)
        return "\n".join(lines)


class GhError(EnvToolError):
    """A `gh` command could not be run or failed."""


class GhUnavailable(GhError):  # noqa: N818  (a state of the machine, not a failed call)
    """`gh` is not on PATH or not authenticated; found before anything was changed."""


class GhCommandError(GhError):
    """A `gh` command exited non-zero or timed out.

    Attributes:
        command: the command's arguments after `gh` (never a secret value: those go on stdin).
        detail: the last line of its error output, generated values masked.
    """

    def __init__(self, args: tuple[str, ...], detail: str) -> None:
        self.command = args
        self.detail = detail
        super().__init__(f"`gh {' '.join(args)}` failed: {detail}")
