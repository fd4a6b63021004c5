"""`svcinfra monitoring`: a service's alert rules, their tests and dashboard, from one definition.

    svcinfra monitoring rules MODULE:ATTR        the Prometheus rule file (YAML) on stdout
    svcinfra monitoring tests MODULE:ATTR        its promtool unit tests (YAML) on stdout
    svcinfra monitoring dashboard MODULE:ATTR    the Grafana dashboard (JSON) on stdout
    svcinfra monitoring render MODULE:ATTR ... -o DIR [--check]

ATTR is a `ServiceMonitoring` (e.g. `users.monitoring:MONITORING`). `render` writes the three
files of each service into DIR; with `--check` it writes nothing and exits 1 when a file differs
from a fresh render (the repository's test runs it).
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from ._model import ServiceMonitoring
from ._render import render_dashboard, render_rules, render_tests, rules_file_name


def load_monitoring(target: str) -> ServiceMonitoring:
    """Import the `ServiceMonitoring` that `target` (MODULE:ATTR) names."""
    module_name, _, attr = target.partition(":")
    if not attr:
        raise click.BadParameter(
            f"{target}: expected MODULE:ATTR, e.g. users.monitoring:MONITORING"
        )
    try:
        value = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise click.BadParameter(f"cannot load {target}: {exc}") from exc
    if not isinstance(value, ServiceMonitoring):
        raise click.BadParameter(f"{target} is not a svcinfra.monitoring.ServiceMonitoring")
    return value


def rendered_files(target: str) -> dict[str, str]:
    """The files `render` writes for `target`, by name."""
    spec = load_monitoring(target)
    return {
        rules_file_name(spec): render_rules(spec, target),
        **render_tests(spec, target),
        f"{spec.service}.dashboard.json": render_dashboard(spec),
    }


@click.group()
def monitoring() -> None:
    """Alert rules and dashboards of a service, from its ServiceMonitoring definition."""


@monitoring.command("rules")
@click.argument("target")
def rules_command(target: str) -> None:
    """Print the Prometheus recording and alerting rules of TARGET."""
    click.echo(render_rules(load_monitoring(target), target), nl=False)


@monitoring.command("tests")
@click.argument("target")
def tests_command(target: str) -> None:
    """Print the promtool unit tests of TARGET's rules (each file after a `# FILE` line)."""
    for name, text in render_tests(load_monitoring(target), target).items():
        click.echo(f"# {name}\n{text}", nl=False)


@monitoring.command("dashboard")
@click.argument("target")
def dashboard_command(target: str) -> None:
    """Print the Grafana dashboard of TARGET."""
    click.echo(render_dashboard(load_monitoring(target)), nl=False)


@monitoring.command("render")
@click.argument("targets", nargs=-1, required=True)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="The directory of the rendered files (deploy/observability).",
)
@click.option("--check", is_flag=True, help="Write nothing; exit 1 if a file is out of date.")
def render_command(targets: tuple[str, ...], output: Path, *, check: bool) -> None:
    """Write the rules, their tests and the dashboard of every TARGET into OUTPUT."""
    stale = []
    for target in targets:
        for name, text in rendered_files(target).items():
            path = output / name
            current = path.read_text(encoding="utf-8") if path.exists() else None
            if current == text:
                continue
            if check:
                stale.append(str(path))
                continue
            output.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            click.echo(f"wrote {path}")
    if stale:
        click.echo(
            "out of date (run `make monitoring` to regenerate): " + ", ".join(stale), err=True
        )
        sys.exit(1)
