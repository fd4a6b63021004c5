"""How a SERVICE is named: `[tool.svcinfra]` in its folder, or MODULE:CLASS (CF-4, CF-6)."""

from __future__ import annotations

from pathlib import Path

import pytest

from svcinfra.envtool import (
    ServiceDeclarationError,
    discover_services,
    load_service,
    service_from_target,
)
from svcinfra.testing import FullConfig

SERVICES = Path(__file__).resolve().parents[1] / "assets" / "env" / "services"


def test_a_service_folder_declares_its_config_prefix_and_name() -> None:
    """The folder's pyproject names the Config class and prefix; the name defaults to the folder."""
    users = load_service(SERVICES / "internal" / "users")
    mailer = load_service(SERVICES / "jobs" / "mailer-job")

    assert (users.name, users.env_prefix, users.config.__name__) == (
        "users",
        "USERS_",
        "UsersConfig",
    )
    assert (mailer.name, mailer.root) == ("mailer", SERVICES / "jobs" / "mailer-job")


def test_discovery_finds_every_declared_service_and_only_those() -> None:
    """Folders `<zone>/<name>/` with `[tool.svcinfra]` are found; one without it is skipped."""
    found = discover_services(SERVICES)

    assert found == (SERVICES / "internal" / "users", SERVICES / "jobs" / "mailer-job")


def test_module_class_names_the_service_after_its_prefix() -> None:
    """Without `--name`, `MODULE:CLASS` is named after its prefix in kebab case."""
    service = service_from_target("svcinfra.testing:FullConfig", env_prefix="CHAT_GATEWAY_")

    assert (service.name, service.config, service.root) == ("chat-gateway", FullConfig, None)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("", "no [tool.svcinfra] table"),
        (
            '[tool.svcinfra]\nconfig = "svcinfra.testing:FullConfig"\n',
            "needs config and env-prefix",
        ),
        (
            '[tool.svcinfra]\nconfig = "svcinfra.testing.FullConfig"\nenv-prefix = "APP_"\n',
            "config must be MODULE:CLASS",
        ),
        (
            '[tool.svcinfra]\nconfig = "svcinfra.testing:FullConfig"\nenv-prefix = "app"\n',
            "env-prefix must be upper-case",
        ),
        (
            '[tool.svcinfra]\nconfig = "svcinfra.testing:FullConfig"\nenv-prefix = ""\n',
            "needs an env-prefix (CF-4)",
        ),
        (
            '[tool.svcinfra]\nconfig = "svcinfra.config:Section"\nenv-prefix = "APP_"\n',
            "not a svcinfra.config.Config subclass",
        ),
        (
            '[tool.svcinfra]\nconfig = "no_such_module:Config"\nenv-prefix = "APP_"\n',
            "cannot import no_such_module:Config",
        ),
        (
            (
                '[tool.svcinfra]\nconfig = "svcinfra.testing:FullConfig"\nenv-prefix = "APP_"\n'
                'name = "App_Service"\n'
            ),
            "lowercase kebab-case",
        ),
        ("[tool.svcinfra\n", "cannot read it"),
    ],
    ids=[
        "no-table",
        "no-prefix-key",
        "not-module-class",
        "bad-prefix",
        "prefix-needed",
        "not-a-config",
        "not-importable",
        "bad-name",
        "not-toml",
    ],
)
def test_a_bad_declaration_is_refused_with_its_file(
    tmp_path: Path, table: str, message: str
) -> None:
    """A broken `[tool.svcinfra]` is refused, naming the pyproject.toml and what is wrong."""
    folder = tmp_path / "svc"
    folder.mkdir()
    (folder / "pyproject.toml").write_text(table, encoding="utf-8")

    with pytest.raises(ServiceDeclarationError, match=r"pyproject\.toml") as caught:
        load_service(folder)

    assert message in str(caught.value)
