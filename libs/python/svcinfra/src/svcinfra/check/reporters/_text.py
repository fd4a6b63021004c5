"""The text report: one block per finding, as a person reads it in a terminal or CI log."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from svcinfra.check.application import Report


def render_text(report: Report, *, verbose: bool = True) -> str:
    """`path:line:col: RULE [check] severity: message`, then the rule's text and the fix.

    A finding that rests on a guess reads `severity (low confidence): message`.
    """
    infos = {info.check: info for info in report.infos}
    lines = []
    for finding in report.findings:
        confidence = " (low confidence)" if finding.confidence == "low" else ""
        lines.append(
            f"{finding.location}: {finding.rule} [{finding.check}] {finding.severity}"
            f"{confidence}: {finding.message}"
        )
        info = infos.get(finding.check)
        if verbose and info is not None:
            if info.text:
                lines.append(f"    rule: {info.text}")
            lines.append(f"    fix:  {info.fix}")
    counts = Counter(finding.severity.value for finding in report.findings)
    rules = len(report.results)
    if report.findings:
        lines.append(
            f"{len(report.findings)} finding(s): {counts['error']} error(s), "
            f"{counts['warning']} warning(s); {rules} rules in {report.seconds:.2f}s"
        )
    else:
        lines.append(f"no findings; {rules} rules in {report.seconds:.2f}s")
    return "\n".join(lines) + "\n"
