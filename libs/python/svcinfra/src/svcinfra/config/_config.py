"""`Config`: the one frozen configuration of a service, loaded from the environment in one pass."""

from __future__ import annotations

import difflib
import os
import re
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import quote, quote_plus

from pydantic import BaseModel, ConfigDict, PrivateAttr, SecretStr, ValidationError

from ._errors import ConfigDefinitionError, ConfigError, ConfigProblem, SettingError
from ._naming import MASK, mask_url_credentials
from ._section import Section, Variable, is_secret_field
from ._sections import Environment, HttpServerSettings, ObservabilitySettings, ServiceSettings

if TYPE_CHECKING:
    from collections.abc import Mapping

ENV_PREFIX = "ENV_PREFIX"
_PREFIX_PATTERN = re.compile(r"^[A-Z][A-Z0-9_]*_$")

C = TypeVar("C", bound="Config")
SafeValue = str | int | float | bool | None


class Config(BaseModel):
    """The frozen configuration of one service: one field per `Section` it needs (CF-6).

    Every service has `service`, `http` and `observability`; a service adds the sections of the
    infrastructure it uses:

        class UsersConfig(Config):
            postgres: PostgresSettings
            redis: RedisSettings

    Build it with `load_config(UsersConfig)`; never with defaults for credentials.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    # A Config with prefixed sections needs ENV_PREFIX, so that it never reads another service's
    # (or the cluster admin's) settings from the unprefixed names (CF-4). A Config with a secret
    # needs it whatever this says: secrets are read only under the prefix.
    require_env_prefix: ClassVar[bool] = True

    env_prefix: str = ""
    service: ServiceSettings
    http: HttpServerSettings
    observability: ObservabilitySettings

    _sources: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:  # noqa: ANN401  (pydantic's signature)
        super().__pydantic_init_subclass__(**kwargs)
        for name, info in cls.model_fields.items():
            if name == "env_prefix":
                continue
            if not (isinstance(info.annotation, type) and issubclass(info.annotation, Section)):
                raise ConfigDefinitionError(
                    f"{cls.__name__}.{name}: every field of a Config is a Section subclass",
                )

    @classmethod
    def sections(cls) -> dict[str, type[Section]]:
        """Return the Section class of every field, in declaration order."""
        out: dict[str, type[Section]] = {}
        for name, info in cls.model_fields.items():
            if name != "env_prefix" and isinstance(info.annotation, type):
                out[name] = info.annotation
        return out

    @classmethod
    def variables(cls, env_prefix: str) -> list[Variable]:
        """Describe every variable this Config reads, for the service named by `env_prefix`."""
        out = [
            Variable(
                name=ENV_PREFIX,
                section="",
                field="env_prefix",
                secret=False,
                required=cls._needs_prefix(),
                type="str",
                default=None,
                description="Prefix of this service's credential variables, e.g. USERS_ (CF-4).",
                fallback=None,
            ),
        ]
        for name, section in cls.sections().items():
            out.extend(section.variables(name, env_prefix))
        return out

    @classmethod
    def _needs_prefix(cls) -> bool:
        sections = cls.sections().values()
        return cls.has_secrets() or (cls.require_env_prefix and any(s.prefixed for s in sections))

    @classmethod
    def has_secrets(cls) -> bool:
        """Tell whether any field of any section is a secret (typed `SecretStr`, CF-4)."""
        return any(
            is_secret_field(info)
            for s in cls.sections().values()
            for info in s.model_fields.values()
        )

    def secret_values(self) -> frozenset[str]:
        """Return every secret's value, also URL-encoded, for masking in logs."""
        values: set[str] = set()
        for section_name in self.sections():
            section = getattr(self, section_name)
            for field in type(section).model_fields:
                value = getattr(section, field)
                if isinstance(value, SecretStr) and (plain := value.get_secret_value()):
                    values.update((plain, quote(plain, safe=""), quote_plus(plain)))
        return frozenset(values)

    def safe_dump(self) -> dict[str, SafeValue]:
        """Return variable name -> value, secrets masked: what is logged at start-up (CF-3).

        The name is the variable the value was read from (prefixed, or its shared fallback).
        """
        out: dict[str, SafeValue] = {ENV_PREFIX: self.env_prefix}
        for section_name, section_cls in self.sections().items():
            section = getattr(self, section_name)
            for field in section_cls.model_fields:
                variable = (
                    self._sources.get(f"{section_name}.{field}")
                    or (section_cls.variable_names(field, self.env_prefix)[0])
                )
                out[variable] = _safe(getattr(section, field))
        return dict(sorted(out.items()))


def _safe(value: object) -> SafeValue:
    if isinstance(value, SecretStr):
        return MASK if value.get_secret_value() else ""
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, str):
        return mask_url_credentials(value)
    if value is None or isinstance(value, int | float | bool):
        return value
    return mask_url_credentials(str(value))


def load_config(cls: type[C], environ: Mapping[str, str] | None = None) -> C:
    """Read `cls` from the environment, validating everything in one pass (CF-6).

    Args:
        cls: the service's Config subclass.
        environ: the variables to read; `os.environ` by default.

    Raises:
        ConfigError: with every problem found, each naming its variable and never its value.
    """
    env = os.environ if environ is None else environ
    problems: list[ConfigProblem] = []
    prefix = env.get(ENV_PREFIX, "")
    if prefix and not _PREFIX_PATTERN.match(prefix):
        problems.append(
            ConfigProblem(ENV_PREFIX, "must be upper-case letters, digits and _, ending in _"),
        )
    elif not prefix and cls._needs_prefix():
        problems.append(
            ConfigProblem(
                ENV_PREFIX,
                "not set; this service reads secrets, which are read only under its prefix (CF-4)"
                if cls.has_secrets()
                else "not set; this service reads settings that must be isolated by a prefix "
                "(CF-4)",
            ),
        )

    sections: dict[str, Section] = {}
    sources: dict[str, str] = {}
    for section_name, section_cls in cls.sections().items():
        section, section_problems = _load_section(section_name, section_cls, prefix, env, sources)
        problems.extend(section_problems)
        if section is not None:
            sections[section_name] = section
    problems.extend(_unknown_variables(cls, prefix, env))
    problems.extend(_insecure_transports(cls, sections, prefix, sources))

    if problems:
        raise ConfigError(tuple(problems))
    config = cls(env_prefix=prefix, **sections)
    config._sources = sources
    return config


def _load_section(
    section_name: str,
    section_cls: type[Section],
    prefix: str,
    env: Mapping[str, str],
    sources: dict[str, str],
) -> tuple[Section | None, list[ConfigProblem]]:
    raw: dict[str, str] = {}
    names: dict[str, tuple[str, ...]] = {}
    for field, info in section_cls.model_fields.items():
        names[field] = section_cls.variable_names(field, prefix)
        if not prefix and is_secret_field(info):
            continue  # a secret is read only under ENV_PREFIX, never by its bare name (CF-4)
        for variable in names[field]:
            value = env.get(variable)
            if value:  # an empty variable is unset, as in a ConfigMap with an empty value
                raw[field] = value
                sources[f"{section_name}.{field}"] = variable
                break
    try:
        return section_cls.model_validate(raw), []
    except ValidationError as exc:
        problems = [_problem(err, names) for err in exc.errors(include_url=False)]
        if not prefix:  # ENV_PREFIX's own problem says why; a missing secret is its consequence
            secrets = {
                names[f][0] for f, i in section_cls.model_fields.items() if is_secret_field(i)
            }
            problems = [
                ConfigProblem(p.variable, "not read: secrets are read only under ENV_PREFIX (CF-4)")
                if p.variable in secrets and p.message.startswith("required")
                else p
                for p in problems
            ]
        return None, [_explain_unfallen(p, prefix, env) for p in problems]


def _problem(err: Any, names: dict[str, tuple[str, ...]]) -> ConfigProblem:  # noqa: ANN401
    error = (err.get("ctx") or {}).get("error")
    if isinstance(error, SettingError):
        return ConfigProblem(names[error.field][0], error.message)
    loc = err["loc"]
    field = str(loc[0]) if loc else ""
    variable = names[field][0] if field in names else ", ".join(n[0] for n in names.values())
    if err["type"] == "missing":
        tried = names.get(field, ())
        also = f" (nor its shared fallback {tried[1]})" if len(tried) > 1 else ""
        return ConfigProblem(variable, f"required, not set{also}")
    return ConfigProblem(variable, str(err["msg"]))


def _explain_unfallen(problem: ConfigProblem, prefix: str, env: Mapping[str, str]) -> ConfigProblem:
    """Say why a set unprefixed secret was not used: that isolation is the point of CF-4."""
    missing = problem.message.startswith("required")
    if not (prefix and missing and problem.variable.startswith(prefix)):
        return problem
    unprefixed = problem.variable.removeprefix(prefix)
    if not env.get(unprefixed):
        return problem
    return ConfigProblem(
        problem.variable,
        f"{problem.message}; {unprefixed} is set but is not read in its place: "
        "credentials never fall back to unprefixed variables (CF-4)",
    )


# Where a connection that is plaintext or does not verify the server is a configuration error
# unless its section's *_ALLOW_INSECURE gives the reason (issue 17).
VERIFIED_TLS_ENVIRONMENTS = frozenset({Environment.STAGING, Environment.PROD})


def _insecure_transports(
    cls: type[Config],
    sections: dict[str, Section],
    prefix: str,
    sources: dict[str, str],
) -> list[ConfigProblem]:
    """Refuse plaintext or unverified connections in staging and prod (issue 17)."""
    service = sections.get("service")
    if not isinstance(service, ServiceSettings) or service.env not in VERIFIED_TLS_ENVIRONMENTS:
        return []
    problems = []
    for section_name, section_cls in cls.sections().items():
        section = sections.get(section_name)
        found = section.insecure_transport() if section is not None else None
        if found is not None:
            field, why = found
            variable = (
                sources.get(f"{section_name}.{field}")
                or section_cls.variable_names(field, prefix)[0]
            )
            problems.append(ConfigProblem(variable, f"{why} (ENV={service.env.value})"))
    return problems


def _unknown_variables(
    cls: type[Config],
    prefix: str,
    env: Mapping[str, str],
) -> list[ConfigProblem]:
    """Report prefixed variables that no field reads: a typo would otherwise go unnoticed."""
    if not prefix:
        return []
    known = {v.name for v in cls.variables(prefix)}
    stems = tuple(f"{prefix}{s.env_section}" for s in cls.sections().values() if s.prefixed)
    problems = []
    for variable in sorted(env):
        if stems and variable.startswith(stems) and variable not in known:
            close = difflib.get_close_matches(variable, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            problems.append(ConfigProblem(variable, f"unknown variable{hint}"))
    return problems
