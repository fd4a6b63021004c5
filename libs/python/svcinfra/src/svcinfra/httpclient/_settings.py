"""`HttpClientSettings`: the env settings of one external API (EX-2, EX-3, EX-5)."""

from __future__ import annotations

from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from svcinfra.config import Section, SettingError

Seconds = Annotated[float, Field(gt=0, le=3600)]

TIMEOUT_FIELDS = ("connect_timeout", "read_timeout", "write_timeout", "pool_timeout")


class HttpClientSettings(Section):
    """Where an external API is, how long a call may take, how hard to retry, and its key.

    A service subclasses it once per external API and names its variables with `env_section`.
    The four timeouts and the total `deadline` have no defaults here (EX-2): each API's section
    sets them, from the environment or as explicit defaults of its own, and a client cannot be
    built without them. The key is a `SecretStr` read from a Secret (EX-5); the base URL may
    carry no credentials and no query.

        class MailApiSettings(HttpClientSettings):
            env_section = "MAIL_API_"     # MAIL_API_BASE_URL, MAIL_API_API_KEY, ...

            api_key: SecretStr            # required for this API
            connect_timeout: Seconds = 1.0
            read_timeout: Seconds = 5.0
            write_timeout: Seconds = 5.0
            pool_timeout: Seconds = 1.0
            deadline: Seconds = 10.0
    """

    base_url: Annotated[
        str,
        Field(min_length=1, description="Base URL of the API (http or https, no credentials)."),
    ]
    api_key: Annotated[
        SecretStr | None,
        Field(description="Credential sent in the adapter's auth header (a Secret, EX-5)."),
    ] = None
    connect_timeout: Annotated[Seconds, Field(description="Seconds to open a connection.")]
    read_timeout: Annotated[Seconds, Field(description="Seconds to wait for each chunk read.")]
    write_timeout: Annotated[Seconds, Field(description="Seconds to wait for each chunk sent.")]
    pool_timeout: Annotated[Seconds, Field(description="Seconds to wait for a free connection.")]
    deadline: Annotated[
        Seconds,
        Field(description="Seconds a whole call may take, retries and waits included."),
    ]
    max_connections: Annotated[int, Field(ge=1, le=1000, description="Most open connections.")] = 20
    max_keepalive_connections: Annotated[
        int,
        Field(ge=0, le=1000, description="Idle connections kept for reuse."),
    ] = 10
    keepalive_expiry: Annotated[Seconds, Field(description="Seconds an idle connection lives.")] = (
        5.0
    )
    retry_attempts: Annotated[
        int,
        Field(ge=1, le=20, description="Most times one call is sent (1: never retried)."),
    ] = 3
    retry_backoff_initial: Annotated[
        Seconds,
        Field(description="Cap of the first backoff (full jitter: a uniform draw below it)."),
    ] = 0.2
    retry_backoff_max: Annotated[Seconds, Field(description="Cap of every backoff.")] = 5.0
    retry_after_max: Annotated[
        Seconds,
        Field(description="Longest Retry-After waited for inside a call; longer ones fail."),
    ] = 30.0
    rate_limit: Annotated[
        float | None,
        Field(gt=0, description="Requests allowed per RATE_PERIOD; unset: no client-side limit."),
    ] = None
    rate_period: Annotated[Seconds, Field(description="Seconds RATE_LIMIT is counted over.")] = 1.0
    breaker_threshold: Annotated[
        int,
        Field(ge=1, le=1000, description="Temporary failures in a row that open the circuit."),
    ] = 5
    breaker_reset_timeout: Annotated[
        Seconds,
        Field(description="Seconds the circuit stays open before a probe is let through."),
    ] = 30.0
    log_bodies: Annotated[
        bool,
        Field(description="Log redacted bodies at debug level (personal fields dropped)."),
    ] = False

    @field_validator("base_url")
    @classmethod
    def _plain_base_url(cls, value: str) -> str:
        # The message never repeats the value: it may hold the very credential it complains of.
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an absolute http:// or https:// URL")
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials; put the key in API_KEY, a Secret (EX-5)")
        if parts.query or parts.fragment:
            raise ValueError("must not carry a query or fragment (keys go in API_KEY, EX-5)")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for name in TIMEOUT_FIELDS:
            if getattr(self, name) > self.deadline:
                raise SettingError(name, "must not exceed DEADLINE, which bounds the call (EX-2)")
        if self.retry_backoff_initial > self.retry_backoff_max:
            raise SettingError("retry_backoff_initial", "must not exceed RETRY_BACKOFF_MAX")
        if self.max_keepalive_connections > self.max_connections:
            raise SettingError("max_keepalive_connections", "must not exceed MAX_CONNECTIONS")
        return self
