"""`svcinfra check`: the infrastructure rules as a CI gate (import-linter's shape).

    svcinfra check [PATH] [--format text|json|sarif] [--db DSN] [--select/--ignore RULES]

Rules are objects (`rules/`, one module per family) that read the repository through one cached
`Repo` (`adapters/`) and return a `RuleResult` of `Finding`s (`domain/`); the use case
(`application/`) selects them, runs them and applies inline suppressions
(`# svcinfra: ignore[RULE] -- reason`); `reporters/` print text, JSON or SARIF 2.1.0. A broken
rule is a finding (exit 1); a check that cannot run is a `CheckError` (exit 2).
"""

from ._cli import EXIT_CLEAN, EXIT_FINDINGS, EXIT_USAGE, check
from ._errors import CheckConfigError, CheckError, DatabaseCheckError
from .application import Report, all_infos, run_check, select_rules
from .domain import Confidence, Finding, Rule, RuleInfo, RuleResult, Severity
from .reporters import render_json, render_sarif, render_text, sarif_schema
from .rules import RULES

__all__ = [
    "EXIT_CLEAN",
    "EXIT_FINDINGS",
    "EXIT_USAGE",
    "RULES",
    "CheckConfigError",
    "CheckError",
    "Confidence",
    "DatabaseCheckError",
    "Finding",
    "Report",
    "Rule",
    "RuleInfo",
    "RuleResult",
    "Severity",
    "all_infos",
    "check",
    "render_json",
    "render_sarif",
    "render_text",
    "run_check",
    "sarif_schema",
    "select_rules",
]
