"""`svcinfra check` on the command line: exit codes, JSON and SARIF output, the repo itself."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from svcinfra.__main__ import main
from svcinfra.check import sarif_schema

ASSETS = Path(__file__).parents[1] / "assets" / "check"
ROOT = Path(__file__).parents[5]


def _repo(tmp_path: Path, case: str | None) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(ASSETS / "good", repo)
    if case:
        shutil.copytree(ASSETS / "bad" / case, repo, dirs_exist_ok=True)
    return repo


@pytest.mark.parametrize(("case", "code"), [(None, 0), ("sql-built", 1)], ids=["clean", "findings"])
def test_exit_code_says_clean_or_findings(tmp_path: Path, case: str | None, code: int) -> None:
    """Exit 0 for a clean repo, 1 when there are findings."""
    result = CliRunner().invoke(main, ["check", str(_repo(tmp_path, case))])
    assert result.exit_code == code, result.output


@pytest.mark.parametrize(
    "args", [["--select", "XX-1"], ["/no/such/folder"]], ids=["unknown-rule", "bad-path"]
)
def test_usage_errors_exit_2(args: list[str]) -> None:
    """A check that cannot run as asked exits 2, not 1."""
    result = CliRunner().invoke(main, ["check", *args])
    assert result.exit_code == 2


def test_text_names_rule_place_text_and_fix(tmp_path: Path) -> None:
    """Each text finding has rule ID, file:line:column, message, the rule's text and the fix."""
    result = CliRunner().invoke(main, ["check", str(_repo(tmp_path, "positional-row-access"))])
    out = result.output
    assert "rows.py:7:12: PG-8 [positional-row-access] error: row read by position" in out
    assert "rule: Rows are mapped by helpers that map by column name" in out
    assert "fix:  Pass row=<Dataclass>" in out


def test_json_is_one_array_with_the_required_keys(tmp_path: Path) -> None:
    """--format json prints one array; every item has rule, path, line, message, severity."""
    repo = _repo(tmp_path, "redis")
    result = CliRunner().invoke(main, ["check", str(repo), "--format", "json", "--select", "RD"])
    items = json.loads(result.output)
    assert {item["rule"] for item in items} == {"RD-2", "RD-3", "RD-4", "RD-6"}
    assert all({"rule", "path", "line", "message", "severity"} <= item.keys() for item in items)


def test_sarif_validates_against_the_schema(tmp_path: Path) -> None:
    """--format sarif output is valid SARIF 2.1.0 and carries every finding."""
    repo = _repo(tmp_path, "sql-built")
    result = CliRunner().invoke(main, ["check", str(repo), "--format", "sarif"])
    log = json.loads(result.output)
    jsonschema.Draft4Validator(sarif_schema()).validate(log)
    assert len(log["runs"][0]["results"]) == 6
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"]


def test_sarif_schema_rejects_a_broken_log() -> None:
    """The vendored schema is strict enough to fail a log without a version."""
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(sarif_schema()).validate({"runs": []})


def test_this_repository_is_clean() -> None:
    """`svcinfra check .` on the monorepo itself finds nothing (the `make lint` gate)."""
    result = CliRunner().invoke(main, ["check", str(ROOT), "--brief"])
    assert result.exit_code == 0, result.output


def _guessing_repo(tmp_path: Path) -> Path:
    """A cache module whose Redis receivers are typed once and guessed once (by name)."""
    repo = _repo(tmp_path, None)
    cache = repo / "services/internal/users/src/users/cache"
    cache.mkdir()
    (cache / "__init__.py").write_text('"""Cache."""\n')
    (cache / "store.py").write_text(
        '"""Two writes without a TTL."""\n'
        "import redis.asyncio\n\n\n"
        "async def typed(client: redis.asyncio.Redis) -> None:\n"
        '    await client.set("user:profile:1", b"")\n\n\n'
        "async def guessed(redis_conn) -> None:\n"
        '    await redis_conn.set("user:profile:2", b"")\n'
    )
    return repo


def test_confidence_is_reported_in_every_format(tmp_path: Path) -> None:
    """A finding on a typed receiver is high confidence; one on a name alone is low, and says so."""
    repo = _guessing_repo(tmp_path)
    args = ["check", str(repo), "--select", "RD-2"]
    items = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).output)
    confidence = {item["line"]: item["confidence"] for item in items}
    assert confidence == {6: "high", 10: "low"}
    guessed = next(item for item in items if item["line"] == 10)
    assert "'redis_conn' suggests it" in guessed["message"]
    text = CliRunner().invoke(main, [*args, "--brief"]).output
    assert "store.py:10:11: RD-2 [redis-write-without-ttl] error (low confidence): " in text
    assert "store.py:6:11: RD-2 [redis-write-without-ttl] error: " in text
    log = json.loads(CliRunner().invoke(main, [*args, "--format", "sarif"]).output)
    jsonschema.validate(log, sarif_schema())
    ranks = {
        r["locations"][0]["physicalLocation"]["region"]["startLine"]: (
            r["rank"],
            r["properties"]["confidence"],
        )
        for r in log["runs"][0]["results"]
    }
    assert ranks == {6: (100.0, "high"), 10: (50.0, "low")}
