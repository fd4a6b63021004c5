"""The configuration of fake-mail: the API key it expects and the faults it starts with (CF-6)."""

from __future__ import annotations

import json
from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from svcinfra.config import Config, Section

from .domain import Faults, ScriptStep
from .domain.faults import ERROR_STATUSES

Ratio = Annotated[float, Field(ge=0, le=1)]


class FakeMailSettings(Section):
    """The API key clients must present, and the faults injected from the start.

    The faults can be replaced at run time with `PUT /v1/faults`; these are the initial ones.
    With `ENV_PREFIX=FAKE_MAIL_` and an empty `env_section` every name is `FAKE_MAIL_` + the
    field: the secret `FAKE_MAIL_API_KEY` is read under the prefix, as every secret is (CF-4).
    """

    env_section = ""
    prefixed = True

    api_key: Annotated[
        SecretStr,
        Field(min_length=16, description="Bearer key every request must present (EX-5)."),
    ]
    latency_ms: Annotated[
        int, Field(ge=0, le=60_000, description="Delay added to every POST /v1/messages, ms.")
    ] = 0
    error_ratio: Annotated[
        Ratio, Field(description="Share of POSTs answered with FAKE_MAIL_ERROR_STATUS.")
    ] = 0.0
    error_status: Annotated[
        int, Field(description="Status of injected errors: 500, 502 or 503.")
    ] = 503
    rate_limit_ratio: Annotated[
        Ratio, Field(description="Share of POSTs answered 429 with Retry-After.")
    ] = 0.0
    retry_after: Annotated[
        int, Field(ge=0, le=3600, description="Retry-After seconds of injected 429s.")
    ] = 1
    reject: Annotated[
        str,
        Field(description="Comma-separated addresses (a@b.c) or domains (@b.c) answered 422."),
    ] = ""
    crash_after_accept_ratio: Annotated[
        Ratio,
        Field(description="Share of new messages recorded, then the connection dropped."),
    ] = 0.0
    script: Annotated[
        str,
        Field(description='JSON list of outcomes of the next POSTs: [{"status": 429}, ...].'),
    ] = ""
    seed: Annotated[
        int | None, Field(description="Seed of the fault ratios' random draws; unset: random.")
    ] = None
    rate_limit_per_second: Annotated[
        int,
        Field(
            ge=0,
            le=100_000,
            description="POSTs per second (a token bucket, one second of burst) before 429 with "
            "Retry-After, as a provider's sending rate; 0: no limit.",
        ),
    ] = 0
    journal: Annotated[
        str,
        Field(
            description="File every accepted message is appended to (a JSON line: id, to, "
            "idempotency_key, accepted_at), kept across restarts: the recipients' inboxes. "
            "Empty: none.",
        ),
    ] = ""
    idempotency_ttl: Annotated[
        float,
        Field(
            gt=0,
            le=30 * 86_400,
            description="Seconds an idempotency key's first answer is kept (24 h, as Stripe); "
            "after it the key is forgotten and a repeat sends a new message.",
        ),
    ] = 86_400.0

    @field_validator("error_status")
    @classmethod
    def _error_status(cls, value: int) -> int:
        if value not in ERROR_STATUSES:
            raise ValueError("must be 500, 502 or 503")
        return value

    @field_validator("script")
    @classmethod
    def _valid_script(cls, value: str) -> str:
        parse_script(value)
        return value

    def faults(self) -> Faults:
        """Return the fault settings to start with."""
        return Faults(
            latency_ms=self.latency_ms,
            error_ratio=self.error_ratio,
            error_status=self.error_status,
            rate_limit_ratio=self.rate_limit_ratio,
            retry_after=self.retry_after,
            reject=tuple(item.strip() for item in self.reject.split(",") if item.strip()),
            crash_after_accept_ratio=self.crash_after_accept_ratio,
            script=parse_script(self.script),
            seed=self.seed,
            rate_limit_per_second=self.rate_limit_per_second,
        )


def parse_script(text: str) -> tuple[ScriptStep, ...]:
    """Parse FAKE_MAIL_SCRIPT, a JSON list of steps; empty text is no script.

    Raises:
        ValueError: not JSON, not a list of objects, or an invalid step.
    """
    if not text.strip():
        return ()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON: {exc.msg} at position {exc.pos}") from None
    if not isinstance(data, list) or not all(isinstance(step, dict) for step in data):
        raise ValueError("must be a JSON list of objects")
    return tuple(ScriptStep.from_mapping(step) for step in data)


class FakeMailConfig(Config):
    """Everything fake-mail reads from the environment; it keeps no credentials of others.

    Its `ENV_PREFIX` is `FAKE_MAIL_` (CF-4: its API key is a secret, read only under a prefix).
    """

    fake_mail: FakeMailSettings
