"""`svcinfra config`: .env.example from the schema, validation of an environment (CF-2, CF-6)."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from svcinfra.__main__ import main
from svcinfra.config import render_env_example
from svcinfra.testing import FullConfig, full_environ

REPO = Path(__file__).resolve().parents[5]


def test_committed_env_example_matches_the_schema() -> None:
    """The committed .env.example is exactly what the schema renders (`make env-example`)."""
    committed = (REPO / ".env.example").read_text(encoding="utf-8")

    assert committed == render_env_example(FullConfig, "APP_")


def test_env_example_documents_every_variable_and_no_secret_value() -> None:
    """Every variable has a comment line before it, and secret lines are empty."""
    lines = render_env_example(FullConfig, "APP_").splitlines()
    variables = {v.name: v for v in FullConfig.variables("APP_")}

    for name, var in variables.items():
        index = next(i for i, line in enumerate(lines) if line.lstrip("# ").startswith(f"{name}="))
        assert lines[index - 1].startswith("# ")
        if var.secret:
            assert lines[index].endswith(f"{name}=")


def test_validate_exits_78_listing_problems_without_values() -> None:
    """An invalid environment exits with EX_CONFIG, naming each variable and no value."""
    env = full_environ(secrets={"postgres": "hunter2-not-logged"}) | {"ENV": "production"}
    del env["APP_POSTGRES_DB"]

    result = CliRunner().invoke(
        main, ["config", "validate", "svcinfra.testing:FullConfig"], env=env
    )

    assert result.exit_code == 78
    assert "ENV: " in result.output
    assert "APP_POSTGRES_DB: required, not set" in result.output
    assert "hunter2-not-logged" not in result.output


def test_validate_accepts_a_valid_environment() -> None:
    """A complete environment validates with exit 0."""
    result = CliRunner().invoke(
        main,
        ["config", "validate", "svcinfra.testing:FullConfig"],
        env=full_environ(),
    )

    assert result.exit_code == 0, result.output


def test_example_check_flags_a_stale_file(tmp_path: Path) -> None:
    """`--check` fails on a file that no longer matches the schema, and passes after a rewrite."""
    target = tmp_path / ".env.example"
    target.write_text("OLD=1\n", encoding="utf-8")
    args = ["config", "example", "svcinfra.testing:FullConfig", "--env-prefix", "APP_", "-o"]

    stale = CliRunner().invoke(main, [*args, str(target), "--check"])
    CliRunner().invoke(main, [*args, str(target)])
    fresh = CliRunner().invoke(main, [*args, str(target), "--check"])

    assert (stale.exit_code, fresh.exit_code) == (1, 0)


def test_a_target_that_is_not_a_config_is_a_usage_error() -> None:
    """Pointing at something that is not a Config subclass is a usage error (exit 2)."""
    result = CliRunner().invoke(main, ["config", "validate", "svcinfra.config:Section"])

    assert result.exit_code == 2
    assert "not a svcinfra.config.Config subclass" in result.output
