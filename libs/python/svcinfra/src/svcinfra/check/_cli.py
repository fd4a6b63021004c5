"""`svcinfra check [PATH]`: the rules as a CI gate (exit 0 clean, 1 findings, 2 cannot check)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from svcinfra.observability import configure_logging

from ._errors import CheckError
from .application import all_infos, run_check
from .reporters import render_json, render_sarif, render_text

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.command("check")
@click.argument(
    "path", default=".", type=click.Path(file_okay=False, path_type=Path), required=False
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "sarif"]),
    default="text",
    show_default=True,
    help="How to print the findings.",
)
@click.option(
    "--db",
    "dsn",
    metavar="DSN",
    help="Admin DSN of a PostgreSQL server: migrate a temporary database per service and "
    "PREPARE every query on it.",
)
@click.option(
    "--select",
    multiple=True,
    metavar="RULES",
    help="Run only these rules: spec IDs (PG-6), families (PG) or checker rule names; "
    "comma-separated or repeated.",
)
@click.option("--ignore", multiple=True, metavar="RULES", help="Skip these rules (same forms).")
@click.option("--list-rules", is_flag=True, help="Print every rule and exit.")
@click.option("--brief", is_flag=True, help="Text format: one line per finding.")
def check(
    path: Path,
    output_format: str,
    dsn: str | None,
    select: tuple[str, ...],
    ignore: tuple[str, ...],
    *,
    list_rules: bool,
    brief: bool,
) -> None:
    """Check the repository at PATH against the infrastructure rules.

    A finding is silenced only by a comment on its line (or alone on the line above) naming the
    rule and giving a reason: `# svcinfra: ignore[PG-6] -- the table name is an allow-list`.
    """
    if list_rules:
        for info in all_infos():
            click.echo(f"{info.rule:7} {info.check:36} {info.severity:8} {info.summary}")
        return
    # stdout carries the report only (JSON and SARIF are parsed): the log lines of what the
    # checker runs, e.g. `--db` applying migrations, go to stderr, warnings and errors only.
    configure_logging(service="svcinfra-check", level="WARNING", stream=sys.stderr)
    try:
        report = run_check(path, select=_split(select), ignore=_split(ignore), dsn=dsn)
    except CheckError as exc:
        click.echo(f"svcinfra check: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    if output_format == "json":
        click.echo(render_json(report), nl=False)
    elif output_format == "sarif":
        click.echo(render_sarif(report), nl=False)
    else:
        click.echo(render_text(report, verbose=not brief), nl=False)
    sys.exit(EXIT_CLEAN if report.clean else EXIT_FINDINGS)
