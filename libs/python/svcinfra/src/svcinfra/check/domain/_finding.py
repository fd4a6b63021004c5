"""What a rule reports: a `Finding` at a place, with a severity, and a rule's `RuleResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Confidence(StrEnum):
    """How sure the checker is: high when the code says what a value is, low on a guess.

    A low-confidence finding rests on a name (a receiver called `redis_conn` whose type the
    module does not state); it still fails the gate, and says what it assumed.
    """

    HIGH = "high"
    LOW = "low"


class Severity(StrEnum):
    """How bad a finding is; both kinds make the run exit 1 unless silenced."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, slots=True, order=True)
class Finding:
    """One broken rule at one place.

    Ordered by path, line and column, so that every reporter prints findings in file order.

    Attributes:
        path: the file, relative to the checked root, with `/` separators.
        line: 1-based line; 0 when the finding is about the file as a whole.
        column: 1-based column; 0 when unknown.
        rule: the spec's rule ID (`PG-6`), or `CHK-n` for the checker's own rules.
        check: the checker rule that found it (`sql-built-from-strings`).
        message: what is wrong here, in one sentence.
        severity: error, or warning for rules the spec states as advice.
        confidence: high, or low when the finding rests on a guess (the message says which).
    """

    path: str
    line: int
    column: int
    rule: str
    check: str
    message: str = field(compare=False)
    severity: Severity = field(default=Severity.ERROR, compare=False)
    confidence: Confidence = field(default=Confidence.HIGH, compare=False)

    @property
    def location(self) -> str:
        """`path:line:column`, as editors and CI annotations read it."""
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class RuleResult:
    """What one checker rule found, and how much it looked at.

    Attributes:
        check: the checker rule's name.
        findings: every finding, before suppressions are applied.
        checked: how many things (files, services, queries) the rule examined.
    """

    check: str
    findings: tuple[Finding, ...] = ()
    checked: int = 0

    @property
    def kept(self) -> bool:
        """True when the rule found nothing."""
        return not self.findings
