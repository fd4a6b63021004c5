"""`svcinfra asyncapi validate` and `svcinfra amqp declare --dry-run`, without a broker."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from svcinfra.__main__ import main

ASSETS = Path(__file__).parents[1] / "assets" / "asyncapi"


def test_validate_accepts_the_good_contracts() -> None:
    """Valid contracts exit 0 with a one-line summary each."""
    result = CliRunner().invoke(
        main, ["asyncapi", "validate", str(ASSETS / "good" / "users.yaml"),
               str(ASSETS / "good" / "notifications.yaml")],
    )  # fmt: skip

    assert result.exit_code == 0, result.output
    assert "users.yaml: valid (3 messages, 3 sent, 0 consumed)" in result.output
    assert "notifications.yaml: valid (1 messages, 0 sent, 1 consumed)" in result.output


def test_validate_prints_every_problem_with_its_path_and_fails() -> None:
    """Each problem is printed as FILE: JSON-PATH: message [rule], and the exit status is 1."""
    bad = ASSETS / "bad" / "schema-violations.yaml"

    result = CliRunner().invoke(main, ["asyncapi", "validate", str(bad)])

    assert result.exit_code == 1
    assert (
        f"{bad}: $.operations.publishUserDeletedV1.bindings.amqp.deliveryMode: 3 is not one of "
        "[1, 2] [asyncapi]"
    ) in result.output.splitlines()
    assert f"{bad}: $.operations.publishUserEmailChangedV1.action:" in result.output


def test_validate_fails_when_any_of_several_files_fails() -> None:
    """A good file does not hide a bad one."""
    result = CliRunner().invoke(
        main, ["asyncapi", "validate", str(ASSETS / "good" / "users.yaml"),
               str(ASSETS / "bad" / "no-dead-letter.yaml")],
    )  # fmt: skip

    assert result.exit_code == 1
    assert "[MQ-10]" in result.output


def test_validate_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    """A path that does not exist is bad usage (exit 2)."""
    result = CliRunner().invoke(main, ["asyncapi", "validate", str(tmp_path / "nope.yaml")])

    assert result.exit_code == 2


def test_declare_dry_run_prints_the_plan_without_a_broker() -> None:
    """`--dry-run` prints exchanges, queues with roles and bindings, and connects to nothing."""
    result = CliRunner().invoke(
        main, ["amqp", "declare", str(ASSETS / "good" / "notifications.yaml"), "--dry-run"]
    )

    assert result.exit_code == 0, result.output
    assert "queue notifications.user-events.retry.1m [retry]" in result.output
    assert "binding users.events --user.registered.v1--> notifications.user-events" in result.output


def test_declare_without_a_broker_address_is_a_usage_error(monkeypatch) -> None:
    """Without --url, SVCINFRA_AMQP_URL or --config there is nothing to connect to (exit 2)."""
    monkeypatch.delenv("SVCINFRA_AMQP_URL", raising=False)

    result = CliRunner().invoke(main, ["amqp", "declare", str(ASSETS / "good" / "users.yaml")])

    assert result.exit_code == 2
    assert "pass --url" in result.output


def test_declare_refuses_an_invalid_contract() -> None:
    """An invalid contract is reported with its problems before anything connects (exit 1)."""
    result = CliRunner().invoke(
        main, ["amqp", "declare", str(ASSETS / "bad" / "no-dead-letter.yaml"), "--dry-run"]
    )

    assert result.exit_code == 1
    assert "$.operations.consumeUserRegisteredV1: consumes" in result.output
