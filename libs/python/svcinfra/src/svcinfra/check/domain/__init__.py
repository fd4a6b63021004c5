"""The checker's vocabulary: rules, findings, results and severities; no I/O here."""

from ._finding import Finding, RuleResult, Severity
from ._rule import Rule, RuleInfo
from ._spec import SPEC, spec_text

__all__ = ["SPEC", "Finding", "Rule", "RuleInfo", "RuleResult", "Severity", "spec_text"]
