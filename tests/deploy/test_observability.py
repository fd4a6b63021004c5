"""deploy/observability: rendered from the services' definitions, valid for promtool, tested.

The rule files, their promtool unit tests and the dashboards are generated (`make monitoring`);
these tests fail when a committed file differs from a fresh render, when promtool rejects a
rule file, when an alert's unit test fails, or when a dashboard is malformed or queries a
series nothing emits. promtool is Debian's `prometheus` package (`scripts/infra.sh up`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from svcinfra.monitoring import (
    Metric,
    known_series,
    load_monitoring,
    metric_names,
    monitoring,
    rendered_files,
    sections,
)

REPO = Path(__file__).resolve().parents[2]
OUT = REPO / "deploy" / "observability"
TARGETS = ("users.monitoring:MONITORING", "notifications.monitoring:MONITORING")


def promtool() -> str:
    """The promtool binary; the test fails (never skips) without it."""
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not installed: `scripts/infra.sh up` (as root) installs it")
    return path


def run_promtool(*args: str, cwd: Path = OUT) -> subprocess.CompletedProcess[str]:
    """`promtool ARGS` in `cwd`."""
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def test_committed_files_equal_a_fresh_render() -> None:
    """Every file under deploy/observability is what `make monitoring` renders, and no other."""
    expected = {name: text for t in TARGETS for name, text in rendered_files(t).items()}
    committed = {p.name: p.read_text(encoding="utf-8") for p in OUT.iterdir() if p.is_file()}
    assert sorted(committed) == sorted([*expected, "README.md"])
    stale = [name for name, text in expected.items() if committed[name] != text]
    assert not stale, f"out of date, run `make monitoring`: {stale}"


def test_render_check_reports_a_stale_file(tmp_path: Path) -> None:
    """`render --check` exits 1 and names a file that differs; a plain render then fixes it."""
    runner = CliRunner()
    first = runner.invoke(monitoring, ["render", TARGETS[0], "-o", str(tmp_path)])
    assert first.exit_code == 0, first.output
    (tmp_path / "users.rules.yaml").write_text("groups: []\n", encoding="utf-8")
    stale = runner.invoke(monitoring, ["render", TARGETS[0], "-o", str(tmp_path), "--check"])
    assert stale.exit_code == 1
    assert "users.rules.yaml" in stale.output
    assert runner.invoke(monitoring, ["render", TARGETS[0], "-o", str(tmp_path)]).exit_code == 0
    fresh = runner.invoke(monitoring, ["render", TARGETS[0], "-o", str(tmp_path), "--check"])
    assert fresh.exit_code == 0, fresh.output


def test_promtool_accepts_every_rule_file() -> None:
    """`promtool check rules` parses every expression and template of every rule file."""
    files = sorted(p.name for p in OUT.glob("*.rules.yaml"))
    assert files == ["notifications.rules.yaml", "users.rules.yaml"]
    done = run_promtool("check", "rules", *files)
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_unit_tests_pass_and_cover_every_alert_both_ways() -> None:
    """Each alert has a case where it fires and one where it stays quiet; all of them pass."""
    test_files = sorted(OUT.glob("*.rules.test*.yaml"))
    for target in TARGETS:
        spec = load_monitoring(target)
        alerts = {a.name for s in sections(spec) for a in s.alerts}
        cases = [
            (
                case["alert_rule_test"][0]["alertname"],
                bool(case["alert_rule_test"][0]["exp_alerts"]),
            )
            for path in test_files
            if path.name.startswith(f"{spec.service}.")
            for case in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
        ]
        assert {name for name, fires in cases if fires} == alerts, spec.service
        assert {name for name, fires in cases if not fires} == alerts, spec.service
    done = run_promtool("test", "rules", *(p.name for p in test_files))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_wrong_threshold_fails_the_unit_tests(tmp_path: Path) -> None:
    """The unit tests see a broken rule: the DLQ alert that waits for 5 messages fails them."""
    for path in OUT.glob("notifications.rules*"):
        shutil.copy(path, tmp_path)
    rules = tmp_path / "notifications.rules.yaml"
    text = rules.read_text(encoding="utf-8")
    assert '.dlq"}) > 0' in text
    rules.write_text(text.replace('.dlq"}) > 0', '.dlq"}) > 5'), encoding="utf-8")
    done = run_promtool("test", "rules", "notifications.rules.test.yaml", cwd=tmp_path)
    assert done.returncode == 1
    assert "DeadLetterQueueNotEmpty" in done.stdout + done.stderr


def _dashboards() -> list[tuple[str, dict[str, Any]]]:
    return [(p.name, json.loads(p.read_text(encoding="utf-8"))) for p in OUT.glob("*.json")]


@pytest.mark.parametrize(("name", "dashboard"), _dashboards(), ids=lambda v: str(v)[:30])
def test_dashboard_structure(name: str, dashboard: dict[str, Any]) -> None:
    """A Grafana dashboard: unique ids, panels on the 24-column grid without overlap, targets
    on the templated Prometheus data source, each with a refId, an expression and a legend."""
    for key in ("uid", "title", "schemaVersion", "panels", "templating", "time"):
        assert key in dashboard, f"{name}: no {key}"
    assert dashboard["uid"] == f"svcinfra-{name.split('.', maxsplit=1)[0]}"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] >= 0, panel["title"]
        assert grid["w"] > 0, panel["title"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        covered = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not covered & cells, f"{name}: {panel['title']} overlaps another panel"
        cells |= covered
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"timeseries", "stat"}
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(set(ref_ids)) == len(ref_ids)
        for target in panel["targets"]:
            assert target["expr"].strip(), panel["title"]
            assert target["legendFormat"], panel["title"]
            assert target["datasource"] == panel["datasource"]
    rows = [p["title"] for p in panels if p["type"] == "row"]
    assert rows[0] == "Processes"


def test_every_query_uses_only_emitted_series_and_parses(tmp_path: Path) -> None:
    """Every panel and rule expression selects only series the library, the service's HTTP
    histogram, Prometheus or a recording rule provides; promtool parses every panel's query."""
    for target in TARGETS:
        spec = load_monitoring(target)
        extra = ()
        if spec.http_server is not None:
            labels = ("method", "route", spec.http_server.status_label)
            extra = (Metric(spec.http_server.duration_metric, "histogram", labels),)
        records = {r.record for s in sections(spec) for r in s.records}
        known = known_series(extra) | records | {"ALERTS"}
        exprs = [q.expr for s in sections(spec) for p in s.panels for q in p.queries]
        exprs += [r.expr for s in sections(spec) for r in s.records]
        exprs += [a.expr for s in sections(spec) for a in s.alerts]
        unknown = {n for e in exprs for n in metric_names(e)} - known
        assert not unknown, f"{spec.service}: {sorted(unknown)}"
        as_rules = {
            "groups": [
                {
                    "name": "panels",
                    "rules": [{"record": f"panel:{i}", "expr": e} for i, e in enumerate(exprs)],
                }
            ]
        }
        path = tmp_path / f"{spec.service}.panels.yaml"
        path.write_text(yaml.safe_dump(as_rules), encoding="utf-8")
        done = run_promtool("check", "rules", str(path), cwd=tmp_path)
        assert done.returncode == 0, done.stdout + done.stderr
