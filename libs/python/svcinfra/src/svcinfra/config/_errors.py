"""Errors of `svcinfra.config`.

```
ConfigError               the environment does not make a valid Config (every problem, one pass)
ConfigDefinitionError     a Config or Section class itself is wrong (a programming error)
```

`SettingError` is raised inside a section's validator to blame one field; the loader turns it into
a `ConfigProblem` naming that field's variable.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong with the environment: which variable, and what is wrong with it.

    The message never contains the variable's value, so problems are safe to print and log.
    """

    variable: str
    message: str

    def __str__(self) -> str:
        return f"{self.variable}: {self.message}"


class ConfigError(Exception):
    """The environment does not describe a valid configuration (CF-6).

    Carries every problem found in one validation pass, not just the first.
    """

    def __init__(self, problems: tuple[ConfigProblem, ...]) -> None:
        self.problems = problems
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"configuration is invalid ({len(self.problems)} problem(s)):"]
        lines.extend(f"  {problem}" for problem in self.problems)
        return "\n".join(lines)


class ConfigDefinitionError(TypeError):
    """A Config or Section class breaks a rule of its own definition (not of the environment)."""


class SettingError(ValueError):
    """Raised by a section's own validator to blame one field (and so one variable) by name."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(message)
