"""docs/rules.md cites only tests that exist, and covers every rule ID of the spec."""

from __future__ import annotations

import re
from pathlib import Path

LIB = Path(__file__).resolve().parents[2]
REPO = LIB.parents[2]
RULES = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
# `tests/...` is the library's; `services/<zone>/<name>/tests/...` a service's; `./tests/...` the
# repository's own.
CITED = re.compile(r"`((?:\./|services/[\w/-]+/)?tests/[\w/]+\.py)(?:::(\w+))?")
# Every rule ID of the infrastructure integration requirements.
SPEC_IDS = (
    ["ARCH-1"]
    + [f"PG-{n}" for n in range(1, 13)]
    + [f"RD-{n}" for n in range(1, 8)]
    + [f"MQ-{n}" for n in range(1, 12)]
    + [f"CF-{n}" for n in range(1, 7)]
    + [f"CI-{n}" for n in range(1, 7)]
)


def test_every_cited_test_file_and_function_exists() -> None:
    """Each `tests/...py::name` in docs/rules.md names a real file and a test defined in it."""
    missing = []
    for path, name in CITED.findall(RULES):
        source = REPO / path if path.startswith(("./", "services/")) else LIB / path
        if not source.is_file():
            missing.append(path)
        elif name and not re.search(rf"^(async )?def {name}\(", source.read_text(), re.MULTILINE):
            missing.append(f"{path}::{name}")

    assert missing == []


def test_every_rule_of_the_spec_has_a_row() -> None:
    """Each rule ID starts a table row, so no rule is forgotten."""
    rows = {m.group(1) for m in re.finditer(r"^\| ([A-Z]+-\d+) ", RULES, re.MULTILINE)}

    assert sorted(set(SPEC_IDS) - rows) == []
