"""The checker's vocabulary: rules, findings, results and severities; no I/O here."""

from ._finding import Confidence, Finding, RuleResult, Severity
from ._rule import Rule, RuleInfo
from ._spec import SPEC, spec_text

__all__ = [
    "SPEC",
    "Confidence",
    "Finding",
    "Rule",
    "RuleInfo",
    "RuleResult",
    "Severity",
    "spec_text",
]
