"""The checker's measured accuracy: recall and precision per rule on the evaluation corpus.

`tests/assets/check/corpus/<checker-rule>/` is laid over the good sample repository; its lines
say what they expect (`expect: RULE-ID`, or `ok:` for a correct idiom; see its README). A rule
passes only at 100 % recall (every expected finding, at its line and with its spec ID) and 100 %
precision (no other finding in the corpus' files). `docs/checker.md` carries the table this test
prints with `-s`.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from svcinfra.check import run_check

ASSETS = Path(__file__).parents[1] / "assets" / "check"
CORPUS = ASSETS / "corpus"
RULES = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
_EXPECT = re.compile(r"expect: ([A-Z]+-\d+)")
_OK = re.compile(r"\bok: ")
MIN_VIOLATIONS = 5
MIN_IDIOMS = 3


@dataclass(frozen=True)
class Case:
    """What one rule's corpus expects."""

    expected: frozenset[tuple[str, int, str]]  # (path, line, spec ID)
    idioms: int
    files: frozenset[str]


def read_case(rule: str) -> Case:
    """Collect the expectations of one rule's corpus folder."""
    root = CORPUS / rule
    expected: set[tuple[str, int, str]] = set()
    files: set[str] = set()
    idioms = 0
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.name == "EXPECT":
            continue
        rel = path.relative_to(root).as_posix()
        files.add(rel)
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            expected.update((rel, number, rule_id) for rule_id in _EXPECT.findall(line))
            idioms += bool(_OK.search(line))
    listed = root / "EXPECT"
    if listed.exists():
        for entry in listed.read_text().split("\n"):
            if entry.strip():
                place, rule_id = entry.split()
                rel, line = place.rsplit(":", 1)
                expected.add((rel, int(line), rule_id))
                files.add(rel)  # a finding about a folder (a service) counts as the corpus' too
    return Case(frozenset(expected), idioms, frozenset(files))


def corpus_repo(tmp_path: Path, rule: str) -> Path:
    """The good sample repo with the rule's corpus laid over it."""
    repo = tmp_path / "repo"
    shutil.copytree(ASSETS / "good", repo)
    shutil.copytree(CORPUS / rule, repo, dirs_exist_ok=True)
    (repo / "EXPECT").unlink(missing_ok=True)
    return repo


def score(tmp_path: Path, rule: str) -> tuple[Case, set[tuple[str, int, str]]]:
    """Run the rule over its corpus; return the expectations and the findings in its files."""
    case = read_case(rule)
    report = run_check(corpus_repo(tmp_path, rule), select=[rule])
    found = {(f.path, f.line, f.rule) for f in report.findings if f.path in case.files}
    return case, found


@pytest.mark.parametrize("rule", RULES)
def test_rule_has_full_recall_and_precision_on_its_corpus(tmp_path: Path, rule: str) -> None:
    """Every violating variant is found at its line, and no correct idiom is flagged."""
    case, found = score(tmp_path, rule)
    assert len(case.expected) >= MIN_VIOLATIONS, f"{rule}: fewer than {MIN_VIOLATIONS} variants"
    assert case.idioms >= MIN_IDIOMS, f"{rule}: fewer than {MIN_IDIOMS} correct idioms"
    missed = sorted(case.expected - found)
    wrong = sorted(found - case.expected)
    recall = 1 - len(missed) / len(case.expected)
    precision = 1 - len(wrong) / len(found) if found else 1.0
    print(  # noqa: T201  (the table of docs/checker.md, shown with -s)
        f"| {rule} | {len(case.expected)} | {case.idioms} | {recall:.0%} | {precision:.0%} |"
    )
    assert not missed, f"{rule} missed (recall {recall:.0%}): {missed}"
    assert not wrong, f"{rule} flagged what it should not (precision {precision:.0%}): {wrong}"


def test_a_missed_variant_fails_the_measure(tmp_path: Path) -> None:
    """The measure can fail: a corpus line expecting a finding the rule does not make."""
    rule = "redis-key-format"
    extra = CORPUS / rule
    repo_case = read_case(rule)
    target = min(repo_case.files)
    scratch = tmp_path / "corpus"
    shutil.copytree(extra, scratch / rule)
    path = scratch / rule / target
    path.write_text(path.read_text() + "\nVALUE = 1  # expect: RD-3\n")
    case = Case(
        repo_case.expected | {(target, len(path.read_text().splitlines()), "RD-3")},
        repo_case.idioms,
        repo_case.files,
    )
    repo = tmp_path / "repo"
    shutil.copytree(ASSETS / "good", repo)
    shutil.copytree(scratch / rule, repo, dirs_exist_ok=True)
    report = run_check(repo, select=[rule])
    found = {(f.path, f.line, f.rule) for f in report.findings if f.path in case.files}
    assert case.expected - found == {(target, case_line(path), "RD-3")}


def case_line(path: Path) -> int:
    """The last line's number."""
    return len(path.read_text().splitlines())
