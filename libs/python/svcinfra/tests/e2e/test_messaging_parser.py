"""The official `@asyncapi/parser` on every AsyncAPI contract in the repository (MQ-1).

Needs Node and `npm ci --prefix tools/asyncapi-parser` (the Makefile's setup step); it fails,
never skips, when they are missing. Contracts are the YAML files under `libs/` and `services/`
with a top-level `asyncapi` key. Two promises are checked: a contract svcinfra accepts is
accepted by the official parser (ours is never the weaker judge), and a contract the vendored
official JSON schema rejects is rejected by the official parser too (the vendored copy is in
step with it). Fixtures under a `bad/` folder break rules on purpose; the others must be valid.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from svcinfra.messaging.contract._loader import check_document, parse_document
from svcinfra.messaging.contract._schema import schema_problems

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[5]
TOOL = ROOT / "tools" / "asyncapi-parser"
SETUP = "run `npm ci --prefix tools/asyncapi-parser` (make setup)"


def contracts() -> list[Path]:
    """Every AsyncAPI document under libs/ and services/."""
    found = []
    for top in ("libs", "services"):
        for path in sorted((ROOT / top).rglob("*.y*ml")):
            if "node_modules" in path.parts or path.suffix not in {".yaml", ".yml"}:
                continue
            text = path.read_text(encoding="utf-8", errors="replace")
            if "asyncapi:" in text:
                try:
                    document = yaml.safe_load(text)
                except yaml.YAMLError:
                    found.append(path)  # a broken contract fixture is still a contract
                    continue
                if isinstance(document, dict) and "asyncapi" in document:
                    found.append(path)
    return found


@pytest.fixture(scope="module", name="verdicts")
def _verdicts() -> dict[Path, dict[str, list[str]]]:
    """The official parser's errors and warnings of every contract, from one node run."""
    node = shutil.which("node")
    if node is None:
        pytest.fail(f"node is not on PATH; install Node 20 and {SETUP}", pytrace=False)
    if not (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir():
        pytest.fail(f"@asyncapi/parser is not installed: {SETUP}", pytrace=False)
    files = contracts()
    result = subprocess.run(
        [node, str(TOOL / "validate.mjs"), *map(str, files)],
        capture_output=True, text=True, check=False, timeout=110, cwd=TOOL,
    )  # fmt: skip
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == len(files), result.stderr
    return {Path(line["file"]): line for line in lines}


def test_the_repository_has_contracts_to_check(verdicts) -> None:
    """The search finds the fixtures and the reference contracts, good and bad."""
    names = {path.relative_to(ROOT).as_posix() for path in verdicts}
    assert any("/asyncapi/good/" in name for name in names)
    assert any("/asyncapi/bad/" in name for name in names)
    assert any(name.endswith("messaging/service.yaml") for name in names)


def test_every_contract_svcinfra_accepts_the_official_parser_accepts(verdicts) -> None:
    """No contract passes svcinfra's validation and fails the official parser."""
    disagreements = {}
    for path, verdict in verdicts.items():
        document, problems = parse_document(path.read_text(encoding="utf-8"))
        if document is None:
            continue
        contract, problems = check_document(document, str(path))
        if contract is not None and verdict["errors"]:
            disagreements[str(path.relative_to(ROOT))] = verdict["errors"]
        bad = "bad" in path.relative_to(ROOT).parts
        if not bad:
            assert contract is not None, f"{path}: svcinfra rejects a good contract: {problems}"
    assert disagreements == {}


def test_what_the_vendored_schema_rejects_the_official_parser_rejects(verdicts) -> None:
    """The vendored official JSON schema and the parser agree on every schema violation."""
    missed = []
    for path, verdict in verdicts.items():
        document, problems = parse_document(path.read_text(encoding="utf-8"))
        rejected = bool(problems) or (document is not None and bool(schema_problems(document)))
        if rejected and not verdict["errors"]:
            missed.append(str(path.relative_to(ROOT)))
    assert missed == []
