"""The JSON report: one array of findings, for scripts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from svcinfra.check.application import Report


def render_json(report: Report) -> str:
    """One JSON array of findings.

    Each item has rule, check, path, line, column, message, severity, confidence (high, or
    low when the finding rests on a guess), rule_text and fix.
    """
    infos = {info.check: info for info in report.infos}
    items = []
    for finding in report.findings:
        info = infos.get(finding.check)
        items.append(
            {
                "rule": finding.rule,
                "check": finding.check,
                "path": finding.path,
                "line": finding.line,
                "column": finding.column,
                "message": finding.message,
                "severity": finding.severity.value,
                "confidence": finding.confidence.value,
                "rule_text": info.text if info else "",
                "fix": info.fix if info else "",
            }
        )
    return json.dumps(items, indent=2, ensure_ascii=False) + "\n"
