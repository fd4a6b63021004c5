"""`svcinfra env`: the schema, the files generated from it, and the GitHub environments (CF-5).

    svcinfra env schema    SERVICE [--json]
    svcinfra env example   SERVICE [-o FILE] [--check]
    svcinfra env manifests SERVICE [-d DIR] [--check]
    svcinfra env check     SERVICE...
    svcinfra env plan      SERVICE [--gh-env E]... [--repo OWNER/REPO] [--set NAME=VALUE]...
    svcinfra env apply     SERVICE [--gh-env E]... [--repo OWNER/REPO] [--set NAME=VALUE]...
                                   [--generate NAME]...

SERVICE is a service folder whose pyproject.toml has `[tool.svcinfra]` (see `svcinfra.envtool`),
or `MODULE:CLASS` with `--env-prefix` (and `--name`). `--gh-env` defaults to CF-5's two
environments, `ai-staging` and `staging`. Exit status: 0 done; 1 a generated file is
stale or a `gh` command failed (the report says what was and was not created); 2 refused before
anything changed (bad usage, a value missing, `gh` missing or not authenticated).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from ._apply import apply, plan
from ._errors import ApplyRefused, GhCommandError, GhUnavailable, ServiceDeclarationError
from ._gh import GhCli
from ._render import env_example_file, generated_files, manifest_files, stale_files
from ._schema import schema
from ._service import Service, load_service, service_from_target

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ._plan import Plan
    from ._render import GeneratedFile

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
# CF-5 names both environments; every new variable and secret goes to each of them.
DEFAULT_ENVIRONMENTS = ("ai-staging", "staging")

_SERVICE_HELP = (
    "SERVICE: a service folder with [tool.svcinfra] in its pyproject.toml, or MODULE:CLASS."
)


def _service_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--name", help="SERVICE_NAME, with MODULE:CLASS (default: from the prefix)."
    )(command)
    command = click.option("--env-prefix", help="ENV_PREFIX, with MODULE:CLASS (e.g. USERS_).")(
        command
    )
    return click.argument("service")(command)


def _gh_options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--generate",
        "generate",
        multiple=True,
        metavar="NAME",
        help="Also generate this optional secret.",
    )(command)
    command = click.option(
        "--set",
        "values",
        multiple=True,
        metavar="NAME=VALUE",
        help="Value of a variable to create (never a secret).",
    )(command)
    command = click.option("--repo", metavar="OWNER/REPO", help="Passed to gh as --repo.")(command)
    return click.option(
        "--gh-env",
        "environments",
        multiple=True,
        default=DEFAULT_ENVIRONMENTS,
        show_default=True,
        metavar="ENV",
        help="GitHub environment (repeat the option for several).",
    )(command)


def _service(target: str, env_prefix: str | None, name: str | None) -> Service:
    try:
        if Path(target).is_dir():
            return load_service(Path(target))
        if ":" in target:
            if env_prefix is None:
                raise click.BadParameter("MODULE:CLASS needs --env-prefix", param_hint="SERVICE")
            return service_from_target(target, env_prefix=env_prefix, name=name)
    except ServiceDeclarationError as exc:
        raise click.BadParameter(str(exc), param_hint="SERVICE") from exc
    raise click.BadParameter(f"{target!r} is neither. {_SERVICE_HELP}", param_hint="SERVICE")


@click.group("env")
def env() -> None:
    """Generate .env.example and manifests from a service's Config; fill GitHub environments.

    SERVICE is a service folder whose pyproject.toml has [tool.svcinfra] (config =
    "module:Class", env-prefix = "PREFIX_"), or MODULE:CLASS with --env-prefix.
    """


@env.command("schema")
@_service_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON, one object per variable.")
def schema_command(
    service: str, env_prefix: str | None, name: str | None, *, as_json: bool
) -> None:
    """Print every variable of SERVICE: name, kind, placement, type, default, required."""
    entries = schema(_service(service, env_prefix, name))
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in entries], indent=2))
        return
    width = max(len(e.name) for e in entries)
    for e in entries:
        if e.value is not None:
            need = f"= {e.value}"
        elif e.variable.required:
            need = "required"
        else:
            need = "optional" if e.variable.default is None else f"default {e.variable.default}"
        click.echo(f"{e.name:<{width}}  {e.variable.kind:<8}  {e.placement:<8}  {need}")


@env.command("example")
@_service_options
@click.option("-o", "--output", type=click.Path(path_type=Path), help="Write here.")
@click.option("--check", is_flag=True, help="Exit 1 if the file differs from the schema.")
def example_command(
    service: str,
    env_prefix: str | None,
    name: str | None,
    output: Path | None,
    *,
    check: bool,
) -> None:
    """Write .env.example of SERVICE (by default into its folder; stdout for MODULE:CLASS)."""
    svc = _service(service, env_prefix, name)
    if output is None and svc.root is None:
        click.echo(env_example_file(svc, Path(".env.example")).text, nl=False)
        return
    _write_or_check((env_example_file(svc, output),), service, "example", check=check)


@env.command("manifests")
@_service_options
@click.option(
    "-d", "--output-dir", type=click.Path(path_type=Path), help="Write the two files here."
)
@click.option("--check", is_flag=True, help="Exit 1 if a file differs from the schema.")
def manifests_command(
    service: str,
    env_prefix: str | None,
    name: str | None,
    output_dir: Path | None,
    *,
    check: bool,
) -> None:
    """Write the ConfigMap and Secret template of SERVICE (deploy/configmap.yaml, secret.yaml)."""
    svc = _service(service, env_prefix, name)
    if output_dir is None and svc.root is None:
        files = manifest_files(svc, Path("deploy"))
        click.echo("---\n".join(f.text for f in files), nl=False)
        return
    _write_or_check(manifest_files(svc, output_dir), service, "manifests", check=check)


@env.command("check")
@click.argument("services", nargs=-1, required=True, type=click.Path(path_type=Path))
def check_command(services: tuple[Path, ...]) -> None:
    """Exit 1 naming every generated file of the SERVICES folders that drifted from its schema."""
    stale: list[Path] = []
    for folder in services:
        stale.extend(stale_files(generated_files(_service(str(folder), None, None))))
    for path in stale:
        click.echo(
            f"{path}: out of date with the schema; regenerate it with `svcinfra env example` "
            "or `svcinfra env manifests`",
            err=True,
        )
    sys.exit(EXIT_FAILED if stale else EXIT_OK)


@env.command("plan")
@_service_options
@_gh_options
def plan_command(**options: Any) -> None:  # noqa: ANN401  (click passes the options)
    """Print what is missing in each GitHub environment, and what `apply` would create."""
    click.echo(_plan(**options).render(), nl=False)


@env.command("apply")
@_service_options
@_gh_options
def apply_command(**options: Any) -> None:  # noqa: ANN401  (click passes the options)
    """Create what is missing: variables with their values, secrets generated; never change any."""
    made = _plan(**options)
    click.echo(made.render())
    try:
        report = apply(made, GhCli(repo=options["repo"]))
    except ApplyRefused as exc:
        _refuse(str(exc))
    click.echo(report.render())
    click.echo(report.pr_snippet(), nl=False)
    if not report.ok:
        click.echo(f"error: {report.error}; re-run to create the rest", err=True)
        sys.exit(EXIT_FAILED)


def _plan(
    *,
    service: str,
    env_prefix: str | None,
    name: str | None,
    environments: Sequence[str],
    repo: str | None,
    values: Sequence[str],
    generate: Sequence[str],
) -> Plan:
    svc = _service(service, env_prefix, name)
    parsed = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"{item!r}: expected NAME=VALUE", param_hint="--set")
        parsed[key] = value
    try:
        made = plan(
            svc,
            schema(svc),
            GhCli(repo=repo),
            environments,
            values=parsed,
            generate=frozenset(generate),
        )
    except (ApplyRefused, GhUnavailable) as exc:
        _refuse(str(exc))
    except GhCommandError as exc:
        click.echo(f"error: {exc}; nothing was changed", err=True)
        sys.exit(EXIT_FAILED)
    return made


def _write_or_check(
    files: Sequence[GeneratedFile], service: str, command: str, *, check: bool
) -> None:
    if not check:
        for f in files:
            f.write()
        return
    stale = stale_files(files)
    for path in stale:
        click.echo(
            f"{path}: out of date with the schema; run `svcinfra env {command} {service}`",
            err=True,
        )
    if stale:
        sys.exit(EXIT_FAILED)


def _refuse(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_REFUSED)
