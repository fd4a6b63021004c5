"""The built-in sections: the service, its HTTP ports, observability, Postgres, Redis, AMQP."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self
from urllib.parse import quote

from pydantic import Field, SecretStr, field_validator, model_validator

from ._errors import SettingError
from ._section import Env, Section

Port = Annotated[int, Field(ge=1, le=65535)]
Seconds = Annotated[float, Field(gt=0, le=3600)]


class Environment(StrEnum):
    """Where a service runs. Environments differ only in configuration, never in code (CI-5)."""

    DEV = "dev"
    AI_STAGING = "ai-staging"
    STAGING = "staging"
    PROD = "prod"


# Sampling per environment when TRACE_SAMPLE_RATIO is not set: everything where traffic is small.
_DEFAULT_SAMPLE_RATIO = {
    Environment.DEV: 1.0,
    Environment.AI_STAGING: 1.0,
    Environment.STAGING: 0.5,
    Environment.PROD: 0.1,
}


class ServiceSettings(Section):
    """Who the service is and where it runs (unprefixed: each service has its own ConfigMap)."""

    name: Annotated[
        str,
        Env("SERVICE_NAME"),
        Field(
            pattern=r"^[a-z][a-z0-9-]{0,62}$", description="Service name (lowercase kebab-case)."
        ),
    ]
    env: Annotated[
        Environment,
        Env("ENV"),
        Field(description="Environment: dev, ai-staging, staging or prod."),
    ]
    shutdown_timeout: Annotated[
        Seconds,
        Env("SHUTDOWN_TIMEOUT"),
        Field(description="Seconds a graceful shutdown may take (the drain timeout)."),
    ] = 20.0


class HttpServerSettings(Section):
    """The ports a service listens on: its API and its tech port (health checks, metrics)."""

    host: Annotated[str, Env("HTTP_HOST"), Field(description="Address to listen on.")] = "0.0.0.0"  # noqa: S104  (a pod listens on its own interface)
    api_port: Annotated[Port, Env("API_PORT"), Field(description="Port of the service's API.")] = (
        8080
    )
    tech_port: Annotated[
        Port,
        Env("TECH_PORT"),
        Field(description="Port of /health/livez, /health/readyz and /metrics."),
    ] = 8081
    # Rollouts without a failed request (issue 17): SIGTERM turns readiness to 503 at once, the
    # API keeps serving for this long while Kubernetes removes the pod from its endpoints,
    # then stops accepting. terminationGracePeriodSeconds > HTTP_DRAIN_DELAY + SHUTDOWN_TIMEOUT.
    drain_delay: Annotated[
        float,
        Env("HTTP_DRAIN_DELAY"),
        Field(
            ge=0,
            le=300,
            description=(
                "Seconds the API keeps serving after SIGTERM (readiness 503, answers with "
                "Connection: close) before it stops accepting; 0: at once."
            ),
        ),
    ] = 5.0

    @model_validator(mode="after")
    def _distinct_ports(self) -> Self:
        if self.api_port == self.tech_port:
            raise SettingError("tech_port", "must differ from API_PORT")
        return self


class ObservabilitySettings(Section):
    """Logging and tracing."""

    log_level: Annotated[
        Literal["DEBUG", "INFO", "WARNING", "ERROR"],
        Env("LOG_LEVEL"),
        Field(description="Lowest level logged: DEBUG, INFO, WARNING or ERROR."),
    ] = "INFO"
    otlp_endpoint: Annotated[
        str | None,
        Env("OTEL_EXPORTER_OTLP_ENDPOINT"),
        Field(min_length=1, description="OTLP gRPC endpoint for traces; unset: no exporter."),
    ] = None
    otlp_insecure: Annotated[
        bool,
        Env("OTEL_EXPORTER_OTLP_INSECURE"),
        Field(description="Use plaintext gRPC to the OTLP endpoint."),
    ] = False
    trace_sample_ratio: Annotated[
        float | None,
        Env("TRACE_SAMPLE_RATIO"),
        Field(ge=0, le=1, description="Share of traces sampled; unset: by ENV (prod 0.1)."),
    ] = None

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    def sample_ratio(self, env: Environment) -> float:
        """Return the configured sampling ratio, or the default for `env`."""
        if self.trace_sample_ratio is not None:
            return self.trace_sample_ratio
        return _DEFAULT_SAMPLE_RATIO[env]


class PostgresSettings(Section):
    """PostgreSQL connection and pool (CF-4: `${ENV_PREFIX}POSTGRES_USER/PASSWORD/DB`)."""

    env_section = "POSTGRES_"
    prefixed = True

    host: Annotated[str, Env(shared=True), Field(min_length=1, description="Server host.")]
    port: Annotated[Port, Env(shared=True), Field(description="Server port.")] = 5432
    user: Annotated[str, Field(min_length=1, description="The service's own role.")]
    password: Annotated[SecretStr, Field(description="Password of the service's role.")]
    db: Annotated[str, Field(min_length=1, description="The service's own database.")]
    sslmode: Annotated[
        Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
        Env(shared=True),
        Field(description="libpq sslmode."),
    ] = "prefer"
    pooler: Annotated[
        Literal["none", "transaction"],
        Env(shared=True),
        Field(
            description="What sits between the service and the server: none, or a "
            "transaction pooler (pgbouncer pool_mode=transaction; see docs/pgbouncer.md).",
        ),
    ] = "none"
    pool_min_size: Annotated[int, Field(ge=0, le=1000, description="Connections kept open.")] = 1
    pool_max_size: Annotated[int, Field(ge=1, le=1000, description="Most connections open.")] = 10
    connect_timeout: Annotated[Seconds, Field(description="Seconds to connect.")] = 5.0
    command_timeout: Annotated[Seconds, Field(description="Seconds a statement may run.")] = 30.0
    statement_timeout: Annotated[
        Seconds,
        Field(description="Seconds the server lets a statement run (statement_timeout, PG-5)."),
    ] = 10.0
    idle_in_transaction_session_timeout: Annotated[
        Seconds,
        Field(description="Seconds the server keeps an idle open transaction (PG-5, PG-12)."),
    ] = 30.0
    pool_acquire_timeout: Annotated[
        Seconds,
        Field(description="Seconds a query waits for a free pooled connection (PG-5)."),
    ] = 2.0
    statement_cache_size: Annotated[
        int | None,
        Field(
            ge=0,
            le=10_000,
            description="Prepared statements cached per connection; unset: 100, or 0 behind "
            "a transaction pooler (more there only with pgbouncer >= 1.21 "
            "max_prepared_statements).",
        ),
    ] = None

    @model_validator(mode="after")
    def _pool_bounds(self) -> Self:
        if self.pool_min_size > self.pool_max_size:
            raise SettingError("pool_min_size", "must not exceed POOL_MAX_SIZE")
        return self

    def statement_cache(self) -> int:
        """Prepared statements asyncpg may cache per connection: the setting, or its default.

        Behind a transaction pooler each statement may run on another server session, so a
        named prepared statement is only usable when the pooler tracks them (pgbouncer >= 1.21
        with max_prepared_statements > 0; set the size there). Unset, it is 0 behind a pooler
        (asyncpg's unnamed statements, which every pgbouncer accepts) and 100 direct.
        """
        if self.statement_cache_size is not None:
            return self.statement_cache_size
        return 0 if self.pooler == "transaction" else 100

    def dsn(self) -> SecretStr:
        """Return the libpq URL with the password, wrapped so that it is not logged by mistake."""
        user = quote(self.user, safe="")
        password = quote(self.password.get_secret_value(), safe="")
        return SecretStr(
            f"postgresql://{user}:{password}@{_host(self.host)}:{self.port}/"
            f"{quote(self.db, safe='')}?sslmode={self.sslmode}",
        )


class RedisSettings(Section):
    """Redis connection (CF-4: `${ENV_PREFIX}REDIS_PASSWORD`, `${ENV_PREFIX}REDIS_DB`)."""

    env_section = "REDIS_"
    prefixed = True

    host: Annotated[str, Env(shared=True), Field(min_length=1, description="Server host.")]
    port: Annotated[Port, Env(shared=True), Field(description="Server port.")] = 6379
    username: Annotated[str | None, Field(min_length=1, description="ACL user, if any.")] = None
    password: Annotated[SecretStr | None, Field(description="Password, if the server has one.")] = (
        None
    )
    db: Annotated[int, Field(ge=0, le=15, description="Database number of the service.")] = 0
    connect_timeout: Annotated[Seconds, Field(description="Seconds to connect.")] = 0.5
    socket_timeout: Annotated[Seconds, Field(description="Seconds a command may take.")] = 0.25
    max_connections: Annotated[int, Field(ge=1, le=10_000, description="Pool size.")] = 50
    pool_timeout: Annotated[
        Seconds,
        Field(description="Seconds a command waits for a free pooled connection."),
    ] = 0.1
    retries: Annotated[
        int,
        Field(ge=0, le=5, description="Retries after a broken connection (never after a timeout)."),
    ] = 1
    breaker_failures: Annotated[
        int,
        Field(ge=1, le=1000, description="Consecutive failures that open the breaker (RD-1)."),
    ] = 5
    breaker_cooldown: Annotated[
        Seconds,
        Field(description="Seconds an open breaker skips Redis before one probe (RD-1)."),
    ] = 5.0
    degraded_log_interval: Annotated[
        Seconds,
        Field(description="Seconds between two 'cache degraded' log lines (RD-1)."),
    ] = 30.0
    max_ttl: Annotated[
        int,
        Field(ge=1, le=30 * 86_400, description="Longest TTL a cache may use, seconds (RD-2)."),
    ] = 7 * 86_400


class AmqpSettings(Section):
    """RabbitMQ connection (`${ENV_PREFIX}RABBITMQ_USER/PASSWORD/VHOST`)."""

    env_section = "RABBITMQ_"
    prefixed = True

    host: Annotated[str, Env(shared=True), Field(min_length=1, description="Broker host.")]
    port: Annotated[Port, Env(shared=True), Field(description="Broker port.")] = 5672
    user: Annotated[str, Field(min_length=1, description="The service's own broker user.")]
    password: Annotated[SecretStr, Field(description="Password of the broker user.")]
    vhost: Annotated[str, Field(min_length=1, description="Virtual host.")] = "/"
    heartbeat: Annotated[int, Field(ge=0, le=3600, description="Heartbeat seconds.")] = 30
    connect_timeout: Annotated[Seconds, Field(description="Seconds to connect.")] = 5.0
    publish_confirm_timeout: Annotated[
        Seconds,
        Field(description="Seconds one publish attempt waits for the broker's confirm (MQ-5)."),
    ] = 5.0
    publish_deadline: Annotated[
        Seconds,
        Field(description="Seconds a publish may spend retrying transient failures (MQ-4)."),
    ] = 30.0

    def url(self) -> SecretStr:
        """Return the AMQP URL with the password, wrapped so that it is not logged by mistake."""
        user = quote(self.user, safe="")
        password = quote(self.password.get_secret_value(), safe="")
        vhost = quote(self.vhost, safe="")
        return SecretStr(
            f"amqp://{user}:{password}@{_host(self.host)}:{self.port}/{vhost}"
            f"?heartbeat={self.heartbeat}&connection_timeout={int(self.connect_timeout * 1000)}",
        )


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
