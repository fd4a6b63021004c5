"""The wire format of the API: request bodies validated strictly, responses rendered as JSON.

The models are also what the OpenAPI document (fake_mail/api/server/api.yaml) says of the bodies,
so they state every rule the domain enforces (the error statuses, a script step's either-or).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Final, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from fake_mail.domain import Faults, ScriptStep

if TYPE_CHECKING:
    from fake_mail.domain import Message

# Whitespace as Python, pydantic's Rust regex and ECMA-262 (OpenAPI clients, schemathesis) see
# it together: their `\s` differ (U+0085, U+FEFF), so the pattern names the union.
_SPACE: Final = (
    r"\t\n\v\f\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
EMAIL_PATTERN: Final = rf"^[^@{_SPACE}]+@[^@{_SPACE}]+\.[^@{_SPACE}]+$"
# 1..255 printable ASCII characters, neither first nor last a space: HTTP strips a header value's
# surrounding spaces, so a key that began or ended with one would arrive as another key.
IDEMPOTENCY_HEADER_PATTERN: Final = r"^[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?$"
Ratio = Annotated[float, Field(ge=0, le=1)]


def _whole(value: object) -> object:
    """JSON's integer is any number without a fraction (`265.0`), which strict mode refuses."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


Whole = Annotated[int, BeforeValidator(_whole)]
ErrorStatus = Annotated[Literal[500, 502, 503], BeforeValidator(_whole)]  # ERROR_STATUSES


class MessageIn(BaseModel):
    """The body of POST /v1/messages."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    to: Annotated[str, Field(pattern=EMAIL_PATTERN, max_length=254)]
    subject: Annotated[str, Field(min_length=1, max_length=998)]
    text: Annotated[str, Field(max_length=1_000_000)]
    tags: dict[str, str] = Field(default_factory=dict, max_length=50)


class ScriptStepIn(BaseModel):
    """One step of `script` in PUT /v1/faults: a status, or a crash after accepting."""

    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        frozen=True,
        # ScriptStep's rule: a status and no crash, or a crash and no status.
        json_schema_extra={
            "anyOf": [
                {
                    "required": ["status"],
                    "properties": {
                        "status": {"type": "integer"},
                        "crash_after_accept": {"const": False},
                    },
                },
                {
                    "required": ["crash_after_accept"],
                    "properties": {
                        "status": {"type": "null"},
                        "crash_after_accept": {"const": True},
                    },
                },
            ]
        },
    )

    status: Annotated[Literal[429, 500, 502, 503], BeforeValidator(_whole)] | None = None
    retry_after: Annotated[int, Field(ge=0, le=3600), BeforeValidator(_whole)] | None = None
    crash_after_accept: bool = False


class FaultsIn(BaseModel):
    """The body of PUT /v1/faults; every field left out is "no fault"."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    latency_ms: Annotated[int, Field(ge=0, le=60_000), BeforeValidator(_whole)] = 0
    error_ratio: Ratio = 0.0
    error_status: ErrorStatus = 503
    rate_limit_ratio: Ratio = 0.0
    retry_after: Annotated[int, Field(ge=0, le=3600), BeforeValidator(_whole)] = 1
    reject: list[Annotated[str, Field(min_length=2, max_length=254)]] = Field(default_factory=list)
    crash_after_accept_ratio: Ratio = 0.0
    script: list[ScriptStepIn] = Field(default_factory=list)
    seed: Whole | None = None
    rate_limit_per_second: Annotated[
        int,
        Field(ge=0, le=100_000, description="POSTs per second before 429 (0: no limit)."),
        BeforeValidator(_whole),
    ] = 0

    def to_domain(self) -> Faults:
        """Return the domain's settings.

        Raises:
            ValueError: a combination the domain refuses (a 404 status, a step without outcome).
        """
        script = tuple(
            ScriptStep(
                status=step.status,
                retry_after=step.retry_after,
                crash_after_accept=step.crash_after_accept,
            )
            for step in self.script
        )
        return Faults(
            latency_ms=self.latency_ms,
            error_ratio=self.error_ratio,
            error_status=self.error_status,
            rate_limit_ratio=self.rate_limit_ratio,
            retry_after=self.retry_after,
            reject=tuple(self.reject),
            crash_after_accept_ratio=self.crash_after_accept_ratio,
            script=script,
            seed=self.seed,
            rate_limit_per_second=self.rate_limit_per_second,
        )


def _optional(schema: dict[str, Any]) -> None:
    """A field a response may leave out: no default to state."""
    schema.pop("default", None)


class ErrorOut(BaseModel):
    """The body of every error answer."""

    error: str = Field(
        description="unauthorized, invalid_request, idempotency_key_in_use, "
        "idempotency_key_reused, address_rejected, rate_limited, unavailable, or the HTTP "
        "reason of a routing error"
    )
    detail: str = Field(default="", json_schema_extra=_optional, description="What and why.")


class AcceptedOut(BaseModel):
    """The body of 202 / 200 of POST /v1/messages."""

    id: str = Field(json_schema_extra={"format": "uuid"})
    to: str
    accepted_at: AwareDatetime


class RecordEntryOut(BaseModel):
    """One message of GET /v1/messages."""

    id: str = Field(json_schema_extra={"format": "uuid"})
    to: str
    subject: str
    text: str
    tags: dict[str, str]
    idempotency_key: str
    accepted_at: AwareDatetime


class RecordOut(BaseModel):
    """The body of GET /v1/messages, in acceptance order."""

    messages: list[RecordEntryOut]


def describe(error: ValidationError) -> str:
    """Name every invalid field and why, e.g. `to: String should match pattern ...`."""
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(part) for part in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def accepted_body(message: Message) -> dict[str, Any]:
    """Return the body of 202 / 200: id, recipient and the RFC 3339 UTC acceptance time."""
    return {"id": message.id, "to": message.to, "accepted_at": rfc3339(message)}


def record_entry(message: Message) -> dict[str, Any]:
    """Return one entry of GET /v1/messages."""
    return {
        "id": message.id,
        "to": message.to,
        "subject": message.subject,
        "text": message.text,
        "tags": message.tags,
        "idempotency_key": message.idempotency_key,
        "accepted_at": rfc3339(message),
    }


def rfc3339(message: Message) -> str:
    """Return the acceptance time as RFC 3339 in UTC, `2026-01-01T12:00:00.000000Z`."""
    return message.accepted_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
