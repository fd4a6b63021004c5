"""The SARIF 2.1.0 report, for code-scanning UIs (GitHub, GitLab, IDEs).

Each checker rule is a `reportingDescriptor` whose id is the checker rule's name and whose
`properties.rule` is the spec ID; each finding is a `result` pointing at it. The schema is
vendored beside this module (`sarif-2.1.0.schema.json`, see `SARIF-SCHEMA-NOTICE.md`).
"""

from __future__ import annotations

import json
from importlib.metadata import PackageNotFoundError, version
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from svcinfra.check.application import Report

SCHEMA_URI: Final = "https://json.schemastore.org/sarif-2.1.0.json"
_LEVEL: Final = {"error": "error", "warning": "warning"}


def sarif_schema() -> dict[str, Any]:
    """The vendored SARIF 2.1.0 JSON schema."""
    text = files(__package__).joinpath("sarif-2.1.0.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _version() -> str:
    try:
        return version("svcinfra")
    except PackageNotFoundError:
        return "0"


def render_sarif(report: Report) -> str:
    """One SARIF log with one run."""
    rules = [
        {
            "id": info.check,
            "name": info.check,
            "shortDescription": {"text": info.summary},
            "fullDescription": {"text": info.text or info.summary},
            "help": {"text": info.fix},
            "defaultConfiguration": {"level": _LEVEL[info.severity.value]},
            "properties": {"rule": info.rule},
        }
        for info in report.infos
    ]
    index = {rule["id"]: position for position, rule in enumerate(rules)}
    results = []
    for finding in report.findings:
        region: dict[str, int] = {"startLine": max(finding.line, 1)}
        if finding.column:
            region["startColumn"] = finding.column
        results.append(
            {
                "ruleId": finding.check,
                "ruleIndex": index.get(finding.check, -1),
                "level": _LEVEL[finding.severity.value],
                "message": {"text": f"{finding.rule}: {finding.message}"},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {"uri": finding.path, "uriBaseId": "%SRCROOT%"},
                            "region": region,
                        }
                    }
                ],
                # SARIF's rank (0-100) is how sure the tool is; properties keep our word for it
                "rank": 100.0 if finding.confidence == "high" else 50.0,
                "properties": {"rule": finding.rule, "confidence": finding.confidence.value},
            }
        )
    log = {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "svcinfra check",
                        "version": _version(),
                        "rules": rules,
                    }
                },
                "originalUriBaseIds": {"%SRCROOT%": {"uri": report.root.as_uri() + "/"}},
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
