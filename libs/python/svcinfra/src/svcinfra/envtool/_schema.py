"""The schema export: every variable of a service, and where each one lives (CF-1, CF-5).

`Config.variables()` says what a variable is (name, type, default, secret, fallback); this module
adds where its value comes from in a cluster, which decides every generated file and the plan:

| placement  | `.env.example` | `<name>-config` ConfigMap    | `<name>-secret` | GitHub env |
|------------|----------------|------------------------------|-----------------|------------|
| `constant` | yes            | the literal value            | -               | -          |
| `variable` | yes            | `envOr "NAME" "<default>"`   | -               | a variable |
| `secret`   | yes, empty     | -                            | `envOr "NAME"`  | a secret   |
| `cluster`  | yes            | a comment naming shared one  | -               | -          |

- `constant`: `ENV_PREFIX` and `SERVICE_NAME`, the service's identity; they never differ between
  environments, and in a repository-wide GitHub environment they would clash between services.
- `cluster`: a non-secret setting with a shared fallback (`USERS_POSTGRES_HOST` falls back to
  `POSTGRES_HOST`). The shared name belongs to the cluster-wide ConfigMap (`deploy/configmap.yaml`,
  the origin monorepo's `db-config` / `redis-config`), not to one service: the service's
  ConfigMap only mentions it, and `env apply` never creates it. Setting the prefixed name (by
  hand, in the service's ConfigMap) overrides the shared one for this service alone.
- `variable` / `secret`: everything else; the GitHub environments (`ai-staging`, `staging`) hold
  their values per environment and the manifests read them at deploy time (CI-5: environments
  differ only in configuration).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from svcinfra.config import Variable

    from ._service import Service

# (section field, Config field) of the variables that are the service's identity.
_CONSTANTS = frozenset({("", "env_prefix"), ("service", "name")})


class Placement(StrEnum):
    """Where a variable's value comes from in a cluster (see the module's table)."""

    CONSTANT = "constant"
    VARIABLE = "variable"
    SECRET = "secret"  # noqa: S105  (a category, not a password)
    CLUSTER = "cluster"


@dataclass(frozen=True, slots=True)
class SchemaEntry:
    """One variable of a service's schema, and where it lives.

    Attributes:
        variable: what `Config.variables()` says of it.
        placement: where its value comes from.
        value: the literal value of a `constant`; None otherwise.
    """

    variable: Variable
    placement: Placement
    value: str | None = None

    @property
    def name(self) -> str:
        """The variable's name, prefixed (CF-4)."""
        return self.variable.name

    @property
    def in_github(self) -> bool:
        """Tell whether `env plan` / `env apply` manage it in the GitHub environments (CF-5)."""
        return self.placement in (Placement.VARIABLE, Placement.SECRET)

    def as_dict(self) -> dict[str, str | bool | None]:
        """Return the entry as JSON-ready data: the schema export's one row."""
        var = self.variable
        return {
            "name": var.name,
            "kind": var.kind,
            "placement": str(self.placement),
            "type": var.type,
            "default": self.value if self.value is not None else var.default,
            "required": var.required,
            "description": var.description,
            "section": var.section,
            "fallback": var.fallback,
        }


def schema(service: Service) -> tuple[SchemaEntry, ...]:
    """Return every variable `service` reads, in declaration order, with its placement."""
    constants = {"env_prefix": service.env_prefix, "name": service.name}
    out = []
    for var in service.config.variables(service.env_prefix):
        if (var.section, var.field) in _CONSTANTS:
            out.append(SchemaEntry(var, Placement.CONSTANT, constants[var.field]))
        elif var.secret:
            out.append(SchemaEntry(var, Placement.SECRET))
        elif var.fallback:
            out.append(SchemaEntry(var, Placement.CLUSTER))
        else:
            out.append(SchemaEntry(var, Placement.VARIABLE))
    return tuple(out)
