"""`Rule`: one mechanical check of one spec rule, as an object (import-linter's `Contract`)."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from ._finding import Confidence, Finding, RuleResult, Severity
from ._spec import spec_text

if TYPE_CHECKING:
    from svcinfra.check.adapters import Repo


@dataclass(frozen=True, slots=True)
class RuleInfo:
    """What a checker rule is: its spec ID, its own name, what it checks and how to fix it.

    Attributes:
        rule: the spec's rule ID (`PG-6`).
        check: the checker rule's kebab-case name, unique across the checker.
        summary: what it checks, in one sentence.
        fix: how to fix a finding, in one or two sentences.
        severity: the severity of its findings.
        also: other spec IDs its findings may carry (ARCH-1's check reports PG-7 for drivers).
    """

    rule: str
    check: str
    summary: str
    fix: str
    severity: Severity = Severity.ERROR
    also: tuple[str, ...] = ()

    @property
    def text(self) -> str:
        """The spec's text of the rule."""
        return spec_text(self.rule)


class Rule(abc.ABC):
    """A checker rule: looks at a repository and returns a `RuleResult`.

    Subclasses set `info` and implement `check`; `needs_db` rules run only with `--db`.
    """

    info: ClassVar[RuleInfo]
    needs_db: ClassVar[bool] = False

    @abc.abstractmethod
    def check(self, repo: Repo) -> RuleResult:
        """Examine `repo` and return every finding of this rule.

        Raises:
            CheckError: the rule cannot run at all (a missing tool, an unreachable database).
        """

    def finding(
        self,
        path: str,
        line: int,
        message: str,
        *,
        column: int = 0,
        rule: str | None = None,
        severity: Severity | None = None,
        confidence: Confidence = Confidence.HIGH,
    ) -> Finding:
        """Build a finding of this rule; `rule` overrides the spec ID for split families."""
        return Finding(
            path=path,
            line=line,
            column=column,
            rule=rule or self.info.rule,
            check=self.info.check,
            message=message,
            severity=severity or self.info.severity,
            confidence=confidence,
        )

    def result(self, findings: list[Finding], checked: int) -> RuleResult:
        """Wrap findings into this rule's result."""
        return RuleResult(check=self.info.check, findings=tuple(findings), checked=checked)
