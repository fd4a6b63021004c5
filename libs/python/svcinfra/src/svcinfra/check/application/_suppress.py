"""Inline suppressions: `# svcinfra: ignore[RULE, ...] -- reason` (`--` comments in SQL).

A suppression silences the named rules (spec ID such as `PG-6`, or checker rule name such as
`sql-in-string`) on its own line, or on the next line when the comment stands alone. It must give
a reason; one without a reason, or naming an unknown rule, silences nothing and is itself a
finding (CHK-1); one that silences nothing is stale (CHK-2, a warning).
"""

from __future__ import annotations

import io
import re
import tokenize
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from svcinfra.check.domain import Finding, RuleInfo, Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from svcinfra.check.adapters import Repo

MARK: Final = "svcinfra: ignore["
_SUPPRESSION: Final = re.compile(
    r"svcinfra:\s*ignore\[(?P<rules>[^\]]*)\]\s*(?:(?:--|:|-|—)\s*)?(?P<reason>.*)$"
)
_HASH_COMMENTS: Final = (".yaml", ".yml", ".toml", ".cfg", ".ini", ".sh", "Dockerfile")
_MIN_REASON_WORDS: Final = 2

NO_REASON = RuleInfo(
    rule="CHK-1",
    check="suppression-without-reason",
    summary="An inline suppression names the rule it silences and gives a reason.",
    fix="Write `# svcinfra: ignore[RULE] -- <why this is fine here>`.",
)
STALE = RuleInfo(
    rule="CHK-2",
    check="unused-suppression",
    summary="An inline suppression silences a finding; a stale one is removed.",
    fix="Delete the suppression comment.",
    severity=Severity.WARNING,
)
UNREADABLE = RuleInfo(
    rule="CHK-3",
    check="unreadable-file",
    summary="Every file the checker reads is UTF-8 and parses; otherwise its findings are hidden.",
    fix="Fix the syntax error or the encoding.",
)


@dataclass(frozen=True, slots=True)
class Suppression:
    """One suppression comment: where it applies, which rules, and its reason."""

    path: str
    line: int
    applies_to: int
    rules: tuple[str, ...]
    reason: str


def _comments(name: str, text: str) -> Iterable[tuple[int, str, bool]]:
    """(line, comment text, whether the comment stands alone on its line)."""
    if name.endswith(".py"):
        try:
            for token in tokenize.generate_tokens(io.StringIO(text).readline):
                if token.type == tokenize.COMMENT:
                    alone = not token.line[: token.start[1]].strip()
                    yield token.start[0], token.string, alone
        except (tokenize.TokenError, SyntaxError):
            return
        return
    marker = "--" if name.endswith(".sql") else "#" if name.endswith(_HASH_COMMENTS) else None
    if marker is None:
        return
    for number, line in enumerate(text.splitlines(), start=1):
        at = line.find(marker)
        if at >= 0:
            yield number, line[at:], not line[:at].strip()


def collect(repo: Repo, paths: Iterable[str]) -> list[Suppression]:
    """Every suppression comment in the given files (relative paths)."""
    found = []
    for rel in paths:
        path = repo.root / rel
        text = repo.text(path) if path.is_file() else None
        if text is None or MARK not in text:
            continue
        for line, comment, alone in _comments(path.name, text):
            match = _SUPPRESSION.search(comment)
            if match is None:
                continue
            rules = tuple(r.strip() for r in match.group("rules").split(",") if r.strip())
            found.append(
                Suppression(
                    path=rel,
                    line=line,
                    applies_to=line + 1 if alone else line,
                    rules=rules,
                    reason=match.group("reason").strip(),
                )
            )
    return found


def apply(
    findings: list[Finding],
    suppressions: list[Suppression],
    *,
    known: set[str],
    active: set[str],
) -> list[Finding]:
    """Drop silenced findings; add CHK-1 for bad suppressions and CHK-2 for stale ones.

    Args:
        findings: the rules' findings.
        suppressions: every suppression comment of the checked files.
        known: every rule ID and checker rule name a suppression may name.
        active: the IDs and names of the rules that ran (a suppression of a rule that did not
            run is not stale).
    """
    valid: dict[tuple[str, int], list[Suppression]] = {}
    out: list[Finding] = []
    for item in suppressions:
        unknown = [rule for rule in item.rules if rule not in known]
        problem = None
        if not item.rules:
            problem = "suppression names no rule"
        elif unknown:
            problem = f"suppression names unknown rule(s) {', '.join(unknown)}"
        elif len(item.reason.split()) < _MIN_REASON_WORDS:
            problem = f"suppression of {', '.join(item.rules)} gives no reason"
        if problem:
            out.append(_meta(NO_REASON, item, problem))
        else:
            # a comment alone on its line covers that line too: file-level findings sit on line 1
            for line in {item.line, item.applies_to}:
                valid.setdefault((item.path, line), []).append(item)
    used: set[int] = set()
    for finding in findings:
        match = next(
            (
                s
                for s in valid.get((finding.path, finding.line), [])
                if finding.rule in s.rules or finding.check in s.rules
            ),
            None,
        )
        if match is None:
            out.append(finding)
        else:
            used.add(id(match))
    stale = {
        id(item): item
        for group in valid.values()
        for item in group
        if id(item) not in used and set(item.rules) <= active
    }
    out.extend(
        _meta(STALE, item, f"suppression of {', '.join(item.rules)} silences nothing")
        for item in stale.values()
    )
    return out


def _meta(info: RuleInfo, item: Suppression, message: str) -> Finding:
    return Finding(
        path=item.path,
        line=item.line,
        column=0,
        rule=info.rule,
        check=info.check,
        message=message,
        severity=info.severity,
    )
