"""`svcinfra env`: a service's Config as the one source of its environment (CF-1, CF-2, CF-5).

From the Config class a service declares in its `pyproject.toml`

    [tool.svcinfra]
    config = "users.config:UsersConfig"
    env-prefix = "USERS_"

come its schema (`schema`), its `.env.example`, its `<name>-config` ConfigMap and `<name>-secret`
Secret template (`generated_files`, drift found by `stale_files`), and the variables and secrets
of its GitHub environments: `plan` reads what exists with `gh`, `apply` creates only what is
missing (variables with their default or `--set` value, secrets generated and sent to
`gh secret set` on standard input), and `ApplyReport.pr_snippet()` names what was created where,
without values. The command line is `svcinfra env` (`env`).
"""

from ._apply import ApplyReport, apply, check_options, plan
from ._cli import env
from ._errors import (
    ApplyRefused,
    EnvToolError,
    GhCommandError,
    GhError,
    GhUnavailable,
    ServiceDeclarationError,
)
from ._gh import Environments, Existing, GhCli
from ._plan import Action, Plan, PlannedEntry, make_plan
from ._render import (
    GeneratedFile,
    env_example_file,
    generated_files,
    manifest_files,
    render_configmap,
    render_secret,
    stale_files,
)
from ._schema import Placement, SchemaEntry, schema
from ._secrets import SecretKind, generate_secret, secret_kind
from ._service import Service, discover_services, load_service, service_from_target

__all__ = [
    "Action",
    "ApplyRefused",
    "ApplyReport",
    "EnvToolError",
    "Environments",
    "Existing",
    "GeneratedFile",
    "GhCli",
    "GhCommandError",
    "GhError",
    "GhUnavailable",
    "Placement",
    "Plan",
    "PlannedEntry",
    "SchemaEntry",
    "SecretKind",
    "Service",
    "ServiceDeclarationError",
    "apply",
    "check_options",
    "discover_services",
    "env",
    "env_example_file",
    "generate_secret",
    "generated_files",
    "load_service",
    "make_plan",
    "manifest_files",
    "plan",
    "render_configmap",
    "render_secret",
    "schema",
    "secret_kind",
    "service_from_target",
    "stale_files",
]
