"""Files generated from the schema: .env.example, ConfigMap, Secret template, drift (CF-1, CF-2)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Annotated

import pytest
import yaml
from click.testing import CliRunner
from pydantic import Field

from svcinfra.__main__ import main
from svcinfra.config import Config, Section, render_env_example
from svcinfra.envtool import (
    Placement,
    discover_services,
    generated_files,
    load_service,
    render_configmap,
    schema,
    service_from_target,
    stale_files,
)

ASSETS = Path(__file__).resolve().parents[1] / "assets" / "env"
REPO = Path(__file__).resolve().parents[5]
_spec = importlib.util.spec_from_file_location("envkit", ASSETS / "envkit.py")
assert _spec is not None
assert _spec.loader is not None
envkit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(envkit)

# The fixture services, and every service of the monorepo that declares [tool.svcinfra] (the
# reference services of issue 8): each one's committed files must match its schema.
SERVICES = (*discover_services(ASSETS / "services"), *discover_services(REPO / "services"))
USERS = ASSETS / "services" / "internal" / "users"
MAILER = ASSETS / "services" / "jobs" / "mailer-job"


def manifests(service_dir: Path, environ: dict[str, str]) -> tuple[dict, dict]:
    """The ConfigMap and Secret of a service as codexctl renders them with `environ`."""
    docs = [
        yaml.safe_load(envkit.render_template(f.text, environ))
        for f in generated_files(load_service(service_dir))[1:]
    ]
    return docs[0], docs[1]


def service_id(folder: Path) -> str:
    """`fixture:internal/users` for a test asset, `internal/users` for a monorepo service."""
    zone_name = f"{folder.parent.name}/{folder.name}"
    return f"fixture:{zone_name}" if folder.is_relative_to(ASSETS) else zone_name


@pytest.mark.parametrize("folder", SERVICES, ids=service_id)
def test_committed_generated_files_match_the_schema(folder: Path) -> None:
    """Each service's committed .env.example and manifests are exactly what its schema generates."""
    files = generated_files(load_service(folder))

    assert stale_files(files) == ()
    assert [f.path.relative_to(folder).as_posix() for f in files] == [
        ".env.example",
        "deploy/configmap.yaml",
        "deploy/secret.yaml",
    ]


def test_the_secret_template_names_every_secret_and_holds_no_value() -> None:
    """The Secret lists exactly the secrets, each empty until the deploy environment fills it."""
    secrets = {e.name for e in schema(load_service(MAILER)) if e.placement is Placement.SECRET}

    configmap, secret = manifests(MAILER, environ={})

    assert (secret["kind"], secret["metadata"]["name"]) == ("Secret", "mailer-secret")
    assert secret["stringData"] == dict.fromkeys(secrets, "")
    assert not secrets & set(configmap["data"])


def test_the_configmap_takes_github_values_else_defaults_and_leaves_shared_ones_out() -> None:
    """Values come from the environment or the default; host/port belong to the cluster."""
    configmap, _ = manifests(USERS, environ={"USERS_POSTGRES_DB": "users", "LOG_LEVEL": "DEBUG"})
    data = configmap["data"]
    text = generated_files(load_service(USERS))[1].text

    assert (configmap["metadata"]["name"], configmap["metadata"]["namespace"]) == (
        "users-config",
        "ns",
    )
    assert (data["ENV_PREFIX"], data["SERVICE_NAME"]) == ("USERS_", "users")
    assert (data["USERS_POSTGRES_DB"], data["LOG_LEVEL"], data["API_PORT"]) == (
        "users",
        "DEBUG",
        "8080",
    )
    assert not {"USERS_POSTGRES_HOST", "USERS_REDIS_PORT", "POSTGRES_HOST"} & set(data)
    assert "#   POSTGRES_HOST (required) - set USERS_POSTGRES_HOST here" in text
    assert "#   REDIS_PORT - set USERS_REDIS_PORT here" in text


class _Quoted(Section):
    env_section = "ODD_"
    prefixed = True

    text: Annotated[str, Field(description="A default YAML and Go must both keep.")] = (
        """it's "quoted" \\ {{ braces }}"""
    )


class _QuotedConfig(Config):
    odd: _Quoted


def test_a_default_with_quotes_and_braces_survives_yaml_and_go_quoting() -> None:
    """Quotes, backslashes and braces in a default render back to the same string."""
    service = service_from_target(f"{__name__}:_QuotedConfig", env_prefix="ODD_")
    service = type(service)(service.name, _QuotedConfig, service.target, "ODD_", None)

    rendered = yaml.safe_load(
        envkit.render_template(render_configmap(service, schema(service)), {})
    )

    assert rendered["data"]["ODD_ODD_TEXT"] == """it's "quoted" \\ {{ braces }}"""


def test_check_names_each_stale_file_and_passes_after_regeneration(tmp_path: Path) -> None:
    """`env check` exits 1 naming drifted and missing files; regenerating makes it pass."""
    folder = tmp_path / "users"
    shutil.copytree(USERS, folder)
    (folder / ".env.example").write_text("USERS_POSTGRES_DB=\n", encoding="utf-8")
    (folder / "deploy" / "secret.yaml").unlink()
    runner = CliRunner()

    stale = runner.invoke(main, ["env", "check", str(folder), str(MAILER)])
    runner.invoke(main, ["env", "example", str(folder)])
    runner.invoke(main, ["env", "manifests", str(folder)])
    fresh = runner.invoke(main, ["env", "check", str(folder), str(MAILER)])

    assert stale.exit_code == 1
    assert f"{folder / '.env.example'}: out of date" in stale.stderr
    assert f"{folder / 'deploy' / 'secret.yaml'}: out of date" in stale.stderr
    assert "configmap.yaml" not in stale.stderr
    assert "mailer" not in stale.stderr
    assert fresh.exit_code == 0, fresh.output


@pytest.mark.parametrize(
    ("command", "drifted"),
    [("example", ".env.example"), ("manifests", "deploy/configmap.yaml")],
    ids=["example", "manifests"],
)
def test_check_option_fails_on_drift_without_writing(
    tmp_path: Path, command: str, drifted: str
) -> None:
    """`--check` exits 1 naming the stale file and leaves it as it was."""
    folder = tmp_path / "mailer-job"
    shutil.copytree(MAILER, folder)
    (folder / drifted).write_text("stale\n", encoding="utf-8")

    result = CliRunner().invoke(main, ["env", command, str(folder), "--check"])

    assert result.exit_code == 1
    assert f"{folder / drifted}: out of date with the schema" in result.stderr
    assert (folder / drifted).read_text(encoding="utf-8") == "stale\n"


def test_module_class_prints_the_files_to_stdout() -> None:
    """With MODULE:CLASS and no output path, the example and manifests go to stdout."""
    runner = CliRunner()
    args = ["svcinfra.testing:FullConfig", "--env-prefix", "APP_", "--name", "app"]

    example = runner.invoke(main, ["env", "example", *args])
    manifests_out = runner.invoke(main, ["env", "manifests", *args])

    assert example.stdout == render_env_example(
        service_from_target("svcinfra.testing:FullConfig", env_prefix="APP_").config, "APP_"
    )
    assert "name: app-config" in manifests_out.stdout
    assert "name: app-secret" in manifests_out.stdout
    assert "APP_RABBITMQ_PASSWORD" in manifests_out.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["svcinfra.testing:FullConfig"], "MODULE:CLASS needs --env-prefix"),
        (["no-such-folder"], "is neither"),
        (["svcinfra.testing:FullConfig", "--env-prefix", "app"], "env-prefix must be upper-case"),
    ],
    ids=["no-prefix", "not-a-service", "bad-prefix"],
)
def test_a_bad_service_argument_is_a_usage_error(args: list[str], message: str) -> None:
    """A SERVICE that names no usable Config exits 2 with the reason."""
    result = CliRunner().invoke(main, ["env", "example", *args])

    assert result.exit_code == 2
    assert message in result.output
