"""`Section`: one group of settings read from the environment, and how its variables are named."""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, SecretStr, field_serializer

from ._errors import ConfigDefinitionError
from ._naming import mask_url_credentials

if typing.TYPE_CHECKING:
    from pydantic.fields import FieldInfo


@dataclass(frozen=True, slots=True)
class Env:
    """How a field is named in the environment, attached with `Annotated[T, Env(...)]`.

    Attributes:
        name: the variable name without `ENV_PREFIX`; by default the section's `env_section`
            followed by the field name in upper case (`POSTGRES_` + `HOST`).
        shared: a non-secret connection setting that may fall back to the unprefixed name when
            the prefixed one is unset (cluster-wide `POSTGRES_HOST`).
            Secrets never fall back (CF-4).
    """

    name: str | None = None
    shared: bool = False


@dataclass(frozen=True, slots=True)
class NotSecret:
    """Says that a field named like a secret is not one: `Annotated[str, NotSecret("why")]`.

    Secrets are marked by their type, `SecretStr` (CF-3, CF-4); a field whose name only looks
    secret (`routing_key`, `token_url`) is a `svcinfra check` warning (config-secret-name) until
    it is typed `SecretStr` or carries this marker with the reason it is not a secret.
    """

    reason: str

    def __post_init__(self) -> None:
        if not self.reason.strip():
            raise ConfigDefinitionError("NotSecret needs the reason the value is not a secret")


@dataclass(frozen=True, slots=True)
class Variable:
    """One environment variable of a Config: the schema `.env.example` and manifests come from."""

    name: str
    section: str
    field: str
    secret: bool
    required: bool
    type: str
    default: str | None
    description: str
    fallback: str | None

    @property
    def kind(self) -> str:
        """`secret` or `variable`: where the value belongs (K8s Secret or ConfigMap)."""
        return "secret" if self.secret else "variable"


class Section(BaseModel):
    """A frozen group of settings that reads its fields from environment variables.

    Subclasses set `env_section` (the common part of their variable names, `POSTGRES_`) and
    `prefixed` (whether the service's `ENV_PREFIX` goes in front of its non-secret fields:
    true for the settings of a database, cache or broker that several services share, CF-4).

    A secret is a field typed `SecretStr` (the explicit marker): it is masked in every repr and
    dump (CF-3) and read only under the service's `ENV_PREFIX`, whatever `prefixed` says, never
    from an unprefixed name (CF-4). A name that merely looks secret decides nothing here;
    `svcinfra check` warns about it (config-secret-name) unless marked `NotSecret`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    env_section: ClassVar[str] = ""
    prefixed: ClassVar[bool] = False

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:  # noqa: ANN401  (pydantic's signature)
        super().__pydantic_init_subclass__(**kwargs)
        for name, info in cls.model_fields.items():
            secret = is_secret_field(info)
            if secret and any(isinstance(item, NotSecret) for item in info.metadata):
                raise ConfigDefinitionError(
                    f"{cls.__name__}.{name}: typed SecretStr and marked NotSecret; choose one",
                )
            env = env_of(info)
            if secret and env.shared:
                raise ConfigDefinitionError(
                    f"{cls.__name__}.{name}: a secret cannot be shared; secrets never fall back "
                    "to an unprefixed variable (CF-4)",
                )

    @field_serializer("*", mode="plain", when_used="unless-none")
    def _serialize_masked(self, value: object) -> object:
        # Dumps mask what reprs mask: a plain string may be a URL with a password (CF-3).
        return mask_url_credentials(value) if isinstance(value, str) else value

    def __repr_args__(self) -> Any:  # noqa: ANN401  (pydantic's signature)
        # SecretStr renders masked by itself; a plain string may still be a URL with a password.
        for name, value in super().__repr_args__():
            yield name, mask_url_credentials(value) if isinstance(value, str) else value

    def insecure_transport(self) -> tuple[str, str] | None:
        """Return (field, why) when this section connects in plaintext or unverified, else None.

        Staging and prod refuse such a connection (issue 17): `load_config` reports it as a
        problem of the field's variable. Sections without a network connection have none.
        """
        return None

    @classmethod
    def variable_names(cls, field: str, env_prefix: str) -> tuple[str, ...]:
        """Return the variables that may hold `field`, in the order they are looked up.

        A secret is always named under `env_prefix`, whatever `prefixed` says (CF-4); without a
        prefix `load_config` does not read it at all.
        """
        info = cls.model_fields[field]
        env = env_of(info)
        base = env.name or f"{cls.env_section}{field.upper()}"
        if is_secret_field(info):
            return (f"{env_prefix}{base}",)
        if not (cls.prefixed and env_prefix):
            return (base,)
        if env.shared:
            return (f"{env_prefix}{base}", base)
        return (f"{env_prefix}{base}",)

    @classmethod
    def variables(cls, section: str, env_prefix: str) -> list[Variable]:
        """Describe every variable of this section as the service named by `env_prefix` reads it."""
        out = []
        for field, info in cls.model_fields.items():
            names = cls.variable_names(field, env_prefix)
            required = info.is_required()
            out.append(
                Variable(
                    name=names[0],
                    section=section,
                    field=field,
                    secret=is_secret_field(info),
                    required=required,
                    type=_type_name(info.annotation),
                    default=None if required else _render_default(info.default),
                    description=info.description or "",
                    fallback=names[1] if len(names) > 1 else None,
                ),
            )
        return out


def env_of(info: FieldInfo) -> Env:
    """Return the `Env` marker of a field, or the default naming."""
    for item in info.metadata:
        if isinstance(item, Env):
            return item
    return Env()


def is_secret_field(info: FieldInfo) -> bool:
    """Tell whether a field holds a `SecretStr` (optionally `| None`)."""
    annotation = info.annotation
    if annotation is SecretStr:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return SecretStr in typing.get_args(annotation)
    return False


def _type_name(annotation: object) -> str:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return " | ".join(_type_name(a) for a in args)
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(str(a) for a in typing.get_args(annotation))
    if isinstance(annotation, type) and hasattr(annotation, "__members__"):
        return " | ".join(str(m.value) for m in annotation.__members__.values())
    return getattr(annotation, "__name__", str(annotation))


def _render_default(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(getattr(value, "value", value))
