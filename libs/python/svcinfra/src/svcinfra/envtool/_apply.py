"""`apply`: create what is missing in the GitHub environments, and nothing else (CF-5).

The order of work makes a failure cheap:

1. options are checked against the schema (`--set` only for variables, never for a secret: a value
   on the command line is visible in `ps` and shell history; `--generate` only for secrets);
2. `gh` is found and authenticated (`GhUnavailable` otherwise: nothing changed);
3. what exists is read in every environment and the plan is made; a required variable without a
   value stops everything (`ApplyRefused`: nothing changed);
4. entries are created one by one, environment by environment; the first failure stops the run.

The report says what was created, what failed and what was not attempted. A re-run reads what
exists again, so it creates only the rest: an entry that exists is never set again (GitHub's
`set` would overwrite it). Each secret is generated just before its own `gh secret set`, with its
own value in every environment (ai-staging and staging never share a credential).

`gh` has no create-only `set`: an entry someone else creates between this run's read and its
write would be overwritten. The window is one run; run `apply` once per change, not concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._errors import ApplyRefused, GhCommandError
from ._plan import Plan, PlannedEntry, make_plan
from ._secrets import generate_secret

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ._gh import Environments
    from ._schema import SchemaEntry
    from ._service import Service


@dataclass(frozen=True, slots=True)
class ApplyReport:
    """What one `apply` run did: created, failed, not attempted; never a value.

    Attributes:
        service: the service's name.
        plan: the plan the run carried out.
        created: the entries created, in order.
        failed: the entry whose creation failed, if any.
        error: why it failed (the gh command and its last error line).
        not_attempted: the entries left for a re-run after the failure.
    """

    service: str
    plan: Plan
    created: tuple[PlannedEntry, ...]
    failed: PlannedEntry | None = None
    error: str | None = None
    not_attempted: tuple[PlannedEntry, ...] = ()

    @property
    def ok(self) -> bool:
        """Tell whether everything planned was created."""
        return self.failed is None

    def render(self) -> str:
        """Return the run's report as text."""
        lines = [f"created {len(self.created)} of {len(self.plan.to_create())}:"]
        lines.extend(f"  + {e.environment}: {e.kind} {e.name}" for e in self.created)
        if self.failed is not None:
            failed = self.failed
            lines.append(f"FAILED {failed.environment}: {failed.kind} {failed.name}: {self.error}")
            lines.append(f"not attempted ({len(self.not_attempted)}):")
            lines.extend(f"  - {e.environment}: {e.kind} {e.name}" for e in self.not_attempted)
            lines.append("Re-run the same command: it creates only what is still missing.")
        return "\n".join(lines) + "\n"

    def pr_snippet(self) -> str:
        """Return the PR-description lines naming what was created where, without values (CF-5)."""
        if not self.created:
            return (
                "**Configuration (CF-5):** nothing created; every variable and secret of "
                f"`{self.service}` already exists in {_names(self.plan.environments)}.\n"
            )
        lines = [
            (
                f"**New configuration of `{self.service}` (CF-5)**, created with "
                "`svcinfra env apply` (values are in the GitHub environments, not here):"
            ),
        ]
        for environment in self.plan.environments:
            mine = [e for e in self.created if e.environment == environment]
            if not mine:
                continue
            parts = []
            for kind, label in (("variable", "variables"), ("secret", "secrets")):
                names = [f"`{e.name}`" for e in mine if e.kind == kind]
                if names:
                    parts.append(f"{label} {', '.join(names)}")
            lines.append(f"- `{environment}`: {'; '.join(parts)}")
        return "\n".join(lines) + "\n"


def check_options(
    entries: Sequence[SchemaEntry],
    *,
    values: Mapping[str, str],
    generate: frozenset[str],
) -> None:
    """Refuse `--set` and `--generate` names the schema does not allow, before anything runs.

    Raises:
        ApplyRefused: with every bad option.
    """
    kinds = {e.name: e.variable.kind for e in entries if e.in_github}
    reasons = []
    for name, value in values.items():
        if kinds.get(name) == "secret":
            reasons.append(
                f"--set {name}: {name} is a secret; secrets are generated, never taken from the "
                "command line (CF-5). To use a value of your own, run "
                f"`gh secret set {name} --env ENV` and type it at its prompt",
            )
        elif name not in kinds:
            reasons.append(f"--set {name}: not a variable this service keeps in GitHub")
        elif not value:
            reasons.append(f"--set {name}: empty value; GitHub variables cannot be empty")
    reasons.extend(
        f"--generate {name}: not a secret of this service"
        for name in sorted(generate)
        if kinds.get(name) != "secret"
    )
    if reasons:
        raise ApplyRefused(tuple(reasons))


def plan(
    service: Service,
    entries: tuple[SchemaEntry, ...],
    gh: Environments,
    environments: Sequence[str],
    *,
    values: Mapping[str, str] | None = None,
    generate: frozenset[str] = frozenset(),
) -> Plan:
    """Check `gh`, read what exists in every environment, and plan what to create.

    Raises:
        ApplyRefused: an option names something the schema does not allow.
        GhUnavailable: gh is missing or not authenticated.
        GhCommandError: reading an environment failed.
    """
    values = dict(values or {})
    check_options(entries, values=values, generate=generate)
    gh.check_ready()
    existing = {env: gh.existing(env) for env in dict.fromkeys(environments)}
    return make_plan(service.name, entries, existing, values=values, generate=generate)


def apply(plan: Plan, gh: Environments) -> ApplyReport:
    """Create every entry `plan` marks `create`, in order; stop at the first failure.

    Raises:
        ApplyRefused: a required variable has no value; nothing was changed.
    """
    if needing := plan.needing_values():
        raise ApplyRefused(
            tuple(f"{e.environment}: {e.name} {e.describe()}" for e in needing),
        )
    todo = plan.to_create()
    created: list[PlannedEntry] = []
    for index, entry in enumerate(todo):
        try:
            if entry.kind == "secret":
                gh.set_secret(entry.environment, entry.name, generate_secret(entry.secret_kind))
            else:
                gh.set_variable(entry.environment, entry.name, entry.value or "")
        except GhCommandError as exc:
            return ApplyReport(
                plan.service,
                plan,
                tuple(created),
                failed=entry,
                error=str(exc),
                not_attempted=todo[index + 1 :],
            )
        created.append(entry)
    return ApplyReport(plan.service, plan, tuple(created))


def _names(environments: Sequence[str]) -> str:
    quoted = [f"`{e}`" for e in environments]
    return ", ".join(quoted[:-1]) + f" and {quoted[-1]}" if len(quoted) > 1 else "".join(quoted)
