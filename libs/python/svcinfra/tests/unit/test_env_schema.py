"""The schema export: every variable once, with its kind and placement (CF-1, CF-4, CF-5)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from svcinfra.__main__ import main
from svcinfra.envtool import Placement, load_service, schema

SERVICES = Path(__file__).resolve().parents[1] / "assets" / "env" / "services"
MAILER = SERVICES / "jobs" / "mailer-job"


def test_every_variable_of_the_config_is_exported_once_in_order() -> None:
    """The export lists exactly `Config.variables()`, prefixed, in declaration order."""
    service = load_service(MAILER)

    assert [e.variable for e in schema(service)] == service.config.variables("MAILER_")


@pytest.mark.parametrize(
    ("name", "placement", "value"),
    [
        ("ENV_PREFIX", Placement.CONSTANT, "MAILER_"),
        ("SERVICE_NAME", Placement.CONSTANT, "mailer"),
        ("ENV", Placement.VARIABLE, None),
        ("MAILER_POSTGRES_USER", Placement.VARIABLE, None),
        ("MAILER_POSTGRES_PASSWORD", Placement.SECRET, None),
        ("MAILER_WEBHOOK_SIGNING_KEY", Placement.SECRET, None),
        ("MAILER_POSTGRES_HOST", Placement.CLUSTER, None),
        ("MAILER_POSTGRES_PORT", Placement.CLUSTER, None),
    ],
    ids=[
        "prefix-is-constant",
        "name-is-constant",
        "unprefixed-variable",
        "prefixed-variable",
        "password-secret",
        "key-secret",
        "host-falls-back-to-the-cluster",
        "port-falls-back-to-the-cluster",
    ],
)
def test_each_variable_has_its_placement(
    name: str, placement: Placement, value: str | None
) -> None:
    """Identity is constant, secrets are secrets, shared fallbacks the cluster's, the rest vars."""
    entry = next(e for e in schema(load_service(MAILER)) if e.name == name)

    assert (entry.placement, entry.value) == (placement, value)
    assert entry.in_github is (placement in (Placement.VARIABLE, Placement.SECRET))


def test_the_json_export_has_every_field_the_issue_names() -> None:
    """`env schema --json` gives name, kind, type, default, required, description per variable."""
    result = CliRunner().invoke(main, ["env", "schema", str(MAILER), "--json"])
    rows = {row["name"]: row for row in json.loads(result.stdout)}

    assert result.exit_code == 0, result.output
    assert rows["MAILER_WEBHOOK_TIMEOUT"] == {
        "name": "MAILER_WEBHOOK_TIMEOUT",
        "kind": "variable",
        "placement": "variable",
        "type": "float",
        "default": "5.0",
        "required": False,
        "description": "Seconds a report may take.",
        "section": "webhook",
        "fallback": None,
    }
    assert rows["MAILER_WEBHOOK_API_TOKEN"]["kind"] == "secret"
    assert rows["MAILER_POSTGRES_HOST"]["fallback"] == "POSTGRES_HOST"


def test_the_text_export_has_one_line_per_variable() -> None:
    """`env schema` prints one line per variable with its kind, placement and default."""
    result = CliRunner().invoke(main, ["env", "schema", str(MAILER)])
    lines = result.stdout.splitlines()

    assert result.exit_code == 0, result.output
    assert len(lines) == len(schema(load_service(MAILER)))
    assert "SERVICE_NAME variable constant = mailer" in {" ".join(x.split()) for x in lines}
    assert "MAILER_WEBHOOK_URL variable variable required" in {" ".join(x.split()) for x in lines}
