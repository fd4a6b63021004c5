"""`svcinfra new service` and `svcinfra new dockerfile`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from svcinfra.newservice._dockerfile import DockerfileError, render_dockerfile
from svcinfra.newservice._service import PARTS, NewServiceError, find_root, new_service


@click.group()
def new() -> None:
    """Create a service from the repository's template, or re-render a service's Dockerfile."""


@new.command("service")
@click.argument("name")
@click.option(
    "--kind",
    type=click.Choice(["internal", "dev"]),
    default="internal",
    show_default=True,
    help="internal: deployed everywhere; dev: dev-like environments only (CI-6).",
)
@click.option(
    "--with",
    "parts",
    default="postgres,http-api",
    show_default=True,
    help=f"Comma-separated parts: {','.join(PARTS)}.",
)
@click.option("--description", help="One line saying what the service does.")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="The monorepo (default: the one around the current directory).",
)
@click.option(
    "--vcs-ref",
    default="HEAD",
    show_default=True,
    help="The template's commit or tag to render (uncommitted changes count at HEAD).",
)
def service_command(  # noqa: PLR0917  (click passes the options by position)
    name: str,
    kind: str,
    parts: str,
    description: str | None,
    root: Path | None,
    vcs_ref: str,
) -> None:
    """Render services/KIND/NAME from templates/service and add it to services.yaml.

    Then: its .env.example and deploy/ ConfigMap and Secret (svcinfra env), its requirements.txt
    (make lock-services) and `make venv` to install it.
    """
    try:
        repo = root or find_root(Path.cwd())
        created = new_service(
            repo,
            name,
            kind=kind,
            parts=[part.strip() for part in parts.split(",") if part.strip()],
            description=description,
            vcs_ref=vcs_ref,
        )
    except NewServiceError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"created {created.folder.relative_to(repo)}")
    for line in created.next_steps:
        click.echo(f"  next: {line}")


@new.command("dockerfile")
@click.argument("folders", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--check", is_flag=True, help="Exit 1 when a Dockerfile is not the template's.")
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="The monorepo (default: the one around the current directory).",
)
def dockerfile_command(folders: tuple[Path, ...], check: bool, root: Path | None) -> None:  # noqa: FBT001
    """Write (or --check) FOLDER/Dockerfile from templates/service/Dockerfile.jinja (CI-1)."""
    try:
        repo = root or find_root(Path.cwd())
    except NewServiceError as exc:
        raise click.ClickException(str(exc)) from exc
    stale = []
    for folder in folders:
        relative = (repo / folder).resolve().relative_to(repo.resolve())
        try:
            text = render_dockerfile(repo, relative)
        except DockerfileError as exc:
            raise click.ClickException(str(exc)) from exc
        target = repo / relative / "Dockerfile"
        current = target.read_text(encoding="utf-8") if target.exists() else None
        if current == text:
            continue
        if check:
            stale.append(str(relative / "Dockerfile"))
        else:
            target.write_text(text, encoding="utf-8")
            click.echo(f"wrote {relative / 'Dockerfile'}")
    if stale:
        click.echo(
            "not the template's (run `svcinfra new dockerfile` on them): " + ", ".join(stale),
            err=True,
        )
        sys.exit(1)
