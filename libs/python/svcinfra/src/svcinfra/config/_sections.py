"""The built-in sections: the service, its HTTP ports, observability, Postgres, Redis, AMQP."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal, Self
from urllib.parse import quote, urlencode

from pydantic import Field, SecretStr, field_validator, model_validator

from ._errors import SettingError
from ._section import Env, Section
from ._tls import TlsClient, TlsNames, client_context, explain_tls_failure

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

    host: Annotated[
        str,
        Env(shared=True),
        Field(
            min_length=1,
            description="Server host, or a comma-separated list of a primary and its standbys "
            "(`host` or `host:port` each; connects to the one that accepts writes, "
            "docs/clusters.md).",
        ),
    ]
    port: Annotated[
        Port, Env(shared=True), Field(description="Server port (of hosts listed without one).")
    ] = 5432
    user: Annotated[str, Field(min_length=1, description="The service's own role.")]
    password: Annotated[SecretStr, Field(description="Password of the service's role.")]
    db: Annotated[str, Field(min_length=1, description="The service's own database.")]
    sslmode: Annotated[
        Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"],
        Env(shared=True),
        Field(
            description="libpq sslmode; verify-full (with POSTGRES_CA_FILE) checks the server's "
            "certificate and name, and is required in staging and prod (issue 17).",
        ),
    ] = "prefer"
    ca_file: Annotated[
        str | None,
        Env(shared=True),
        Field(
            min_length=1,
            description="PEM file of the CA that signs the server's certificate (mounted from "
            "a Secret); needed by sslmode verify-ca and verify-full.",
        ),
    ] = None
    cert_file: Annotated[
        str | None,
        Field(min_length=1, description="PEM client certificate, if the server asks for one."),
    ] = None
    keyfile: Annotated[
        str | None,
        Env("POSTGRES_KEY_FILE"),
        Field(min_length=1, description="PEM private key of POSTGRES_CERT_FILE (a file path)."),
    ] = None
    allow_insecure: Annotated[
        str | None,
        Env(shared=True),
        Field(
            min_length=1,
            description="Why a connection that does not verify the server (sslmode other than "
            "verify-full) is accepted in staging or prod; unset: refused there.",
        ),
    ] = None
    pooler: Annotated[
        Literal["none", "transaction"],
        Env(shared=True),
        Field(
            description="What sits between the service and the server: none, or a "
            "transaction pooler (pgbouncer pool_mode=transaction; see docs/pgbouncer.md).",
        ),
    ] = "none"
    standby_reads: Annotated[
        bool,
        Field(
            description="Run the queries declared `-- route: standby` on a standby listed in "
            "POSTGRES_HOST (a second pool; on the primary while no standby answers). Their "
            "results may lag the primary by the replication delay (docs/clusters.md).",
        ),
    ] = False
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

    @field_validator("host")
    @classmethod
    def _host_list(cls, value: str) -> str:
        host_list(value, 5432)  # the entries parse
        return value

    def addresses(self) -> tuple[tuple[str, int], ...]:
        """The servers of POSTGRES_HOST as (host, port) pairs, in the order given."""
        return host_list(self.host, self.port)

    @model_validator(mode="after")
    def _pool_bounds(self) -> Self:
        if self.pool_min_size > self.pool_max_size:
            raise SettingError("pool_min_size", "must not exceed POOL_MAX_SIZE")
        return self

    @model_validator(mode="after")
    def _tls_files(self) -> Self:
        verifying = self.sslmode in ("verify-ca", "verify-full")
        if verifying and not self.ca_file:
            raise SettingError(
                "ca_file",
                f"required with POSTGRES_SSLMODE={self.sslmode}: the PEM bundle of the CA that "
                "signs the server's certificate (a public CA: /etc/ssl/certs/ca-certificates.crt)",
            )
        if self.ca_file and not verifying:
            raise SettingError(
                "ca_file",
                f"is set but POSTGRES_SSLMODE={self.sslmode} does not verify the server; "
                "use verify-full",
            )
        if self.sslmode in ("disable", "allow", "prefer") and self.cert_file:
            raise SettingError(
                "cert_file", f"needs POSTGRES_SSLMODE require or stricter, not {self.sslmode}"
            )
        _client_pair(self.cert_file, self.keyfile, "POSTGRES_")
        return self

    def insecure_transport(self) -> tuple[str, str] | None:
        """Why the connection does not verify the server, unless allowed (issue 17)."""
        if self.sslmode == "verify-full" or self.allow_insecure:
            return None
        return (
            "sslmode",
            (
                f"is {self.sslmode}: staging and prod connect with verify-full (and "
                "POSTGRES_CA_FILE), or set POSTGRES_ALLOW_INSECURE to the reason"
            ),
        )

    def tls_failure(self, exc: BaseException) -> str | None:
        """Explain a failed TLS handshake by the setting to fix; None for any other failure.

        PostgreSQL asks for a client certificate only optionally in the handshake and refuses a
        missing or unaccepted one afterwards, by pg_hba.conf (`clientcert=verify-ca|full`).
        """
        if "requires a valid client certificate" in str(exc):
            return (
                "TLS: the server requires a client certificate its CA signed; set "
                "POSTGRES_CERT_FILE and POSTGRES_KEY_FILE"
            )
        return explain_tls_failure(exc, names=_PG_TLS, server_name=self.host, ca_file=self.ca_file)

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

    def dsn(self, *, standby: bool = False) -> SecretStr:
        """Return the libpq URL with the password, wrapped so that it is not logged by mistake.

        `standby`: the URL of the standby pool (`target_session_attrs=standby`: only a host in
        recovery; `Database` runs the read on the primary when none answers).
        """
        user = quote(self.user, safe="")
        password = quote(self.password.get_secret_value(), safe="")
        # The TLS files travel in the URL (libpq's and asyncpg's keywords), so that every user
        # of the DSN (the pool, migrations, the relay's LISTEN connection) verifies alike.
        files = {"sslrootcert": self.ca_file, "sslcert": self.cert_file, "sslkey": self.keyfile}
        query = {"sslmode": self.sslmode} | {k: path for k, path in files.items() if path}
        addresses = self.addresses()
        if standby:
            query["target_session_attrs"] = "standby"
        elif len(addresses) > 1:
            # libpq's and asyncpg's multi-host URL: each connection tries the hosts in turn
            # and keeps the first that accepts writes (the primary, after a failover too).
            query["target_session_attrs"] = "read-write"
        hosts = join_hosts(addresses)
        return SecretStr(
            f"postgresql://{user}:{password}@{hosts}/"
            f"{quote(self.db, safe='')}?{urlencode(query, quote_via=quote, safe='/')}",
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
    tls: Annotated[
        bool,
        Env(shared=True),
        Field(description="Connect with TLS (rediss); required in staging and prod."),
    ] = False
    tls_verify: Annotated[
        bool,
        Env(shared=True),
        Field(description="Verify the server's certificate and name (false: encrypt only)."),
    ] = True
    tls_server_name: Annotated[
        str | None,
        Env(shared=True),
        Field(
            min_length=1,
            description="Name the server's certificate must carry (and SNI); unset: REDIS_HOST.",
        ),
    ] = None
    ca_file: Annotated[
        str | None,
        Env(shared=True),
        Field(
            min_length=1,
            description="PEM file of the CA that signs the server's certificate (mounted from "
            "a Secret); unset: the system's CAs.",
        ),
    ] = None
    cert_file: Annotated[
        str | None,
        Field(min_length=1, description="PEM client certificate, if the server asks for one."),
    ] = None
    keyfile: Annotated[
        str | None,
        Env("REDIS_KEY_FILE"),
        Field(min_length=1, description="PEM private key of REDIS_CERT_FILE (a file path)."),
    ] = None
    allow_insecure: Annotated[
        str | None,
        Env(shared=True),
        Field(
            min_length=1,
            description="Why a plaintext or unverified connection is accepted in staging or "
            "prod; unset: refused there.",
        ),
    ] = None
    # Redis Sentinel (issue 20): the sentinels say where the master is and move it on failover.
    sentinels: Annotated[
        str | None,
        Env(shared=True),
        Field(
            min_length=1,
            description="Sentinels as host:port,host:port,...; set: connect to the master they "
            "name (REDIS_HOST is then not dialled); unset: REDIS_HOST alone.",
        ),
    ] = None
    sentinel_master: Annotated[
        str | None,
        Env(shared=True),
        Field(
            min_length=1,
            description="The master's name at the sentinels; required with REDIS_SENTINELS.",
        ),
    ] = None
    # Redis Cluster (issue 20): the nodes say which of them serves which slot.
    cluster_nodes: Annotated[
        str | None,
        Env(shared=True),
        Field(
            min_length=1,
            description="Redis Cluster nodes to start from as host:port,host:port,... (a few "
            "are enough: the rest are discovered); set: cluster mode (REDIS_HOST is then not "
            "dialled); unset: REDIS_HOST alone.",
        ),
    ] = None
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

    @model_validator(mode="after")
    def _tls_files(self) -> Self:
        if not self.tls:
            for field in ("tls_server_name", "ca_file", "cert_file", "keyfile"):
                if getattr(self, field) is not None:
                    name = "KEY_FILE" if field == "keyfile" else field.upper()
                    raise SettingError(field, f"REDIS_{name} is set but REDIS_TLS is false")
        _client_pair(self.cert_file, self.keyfile, "REDIS_")
        return self

    @model_validator(mode="after")
    def _sentinel_pair(self) -> Self:
        if self.sentinels is None:
            if self.sentinel_master is not None:
                raise SettingError("sentinel_master", "is set but REDIS_SENTINELS is not")
            return self
        if self.sentinel_master is None:
            raise SettingError("sentinel_master", "is required with REDIS_SENTINELS")
        if self.tls:
            # redis-py's sentinel pool builds its own SSL connections, not svcinfra's TLS
            # context: refused rather than silently connecting with other certificate checks.
            raise SettingError("sentinels", "is not supported together with REDIS_TLS yet")
        self.sentinel_addresses()  # raises on a malformed list
        return self

    @model_validator(mode="after")
    def _cluster_mode(self) -> Self:
        if self.cluster_nodes is None:
            return self
        if self.sentinels is not None:
            raise SettingError(
                "cluster_nodes", "and REDIS_SENTINELS are both set: choose one (or neither)"
            )
        if self.db != 0:
            raise SettingError("db", "must be 0 with REDIS_CLUSTER_NODES (a cluster has only db 0)")
        if self.tls:
            # redis-py's cluster builds its own SSL connections, not svcinfra's TLS context:
            # refused rather than silently connecting with other certificate checks.
            raise SettingError("cluster_nodes", "is not supported together with REDIS_TLS yet")
        self.cluster_addresses()  # raises on a malformed list
        return self

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs of `sentinels` (port 26379 when left out); [] without them.

        An IPv6 address is written in brackets with its port: `[fd00::1]:26379`.

        Raises:
            SettingError: an entry is empty or its port is not a number in 1-65535.
        """
        if self.sentinels is None:
            return []
        return _host_ports(self.sentinels, "sentinels", 26379)

    def cluster_addresses(self) -> list[tuple[str, int]]:
        """The (host, port) pairs of `cluster_nodes` (port 6379 when left out); [] without them.

        An IPv6 address is written in brackets with its port: `[fd00::1]:6379`.

        Raises:
            SettingError: an entry is empty or its port is not a number in 1-65535.
        """
        if self.cluster_nodes is None:
            return []
        return _host_ports(self.cluster_nodes, "cluster_nodes", 6379)

    def insecure_transport(self) -> tuple[str, str] | None:
        """Why the connection is plaintext or unverified, unless allowed (issue 17)."""
        if self.allow_insecure:
            return None
        if not self.tls:
            return (
                "tls",
                (
                    "is false: staging and prod connect with TLS, or set REDIS_ALLOW_INSECURE to "
                    "the reason"
                ),
            )
        if not self.tls_verify:
            return (
                "tls_verify",
                (
                    "is false: staging and prod verify the server, or set REDIS_ALLOW_INSECURE to "
                    "the reason"
                ),
            )
        return None

    def tls_client(self) -> TlsClient | None:
        """The TLS context of the connection, None without TLS (issue 17).

        Raises:
            ConfigError: a certificate or key file cannot be read.
        """
        if not self.tls:
            return None
        server_name = self.tls_server_name or self.host
        context = client_context(
            names=_REDIS_TLS,
            ca_file=self.ca_file,
            cert_file=self.cert_file,
            key_file=self.keyfile,
            verify=self.tls_verify,
            server_name=self.tls_server_name,
        )
        return TlsClient(context, server_name, self.ca_file, _REDIS_TLS)


def _host_ports(value: str, field: str, default_port: int) -> list[tuple[str, int]]:
    """Parse `host:port,host,[::1]:port` into (host, port) pairs; the port defaults."""
    out = []
    for entry in value.split(","):
        host, sep, port = entry.strip().rpartition(":")
        if not sep:
            host, port = port, str(default_port)
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]  # an IPv6 address: [::1]:6379
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:  # noqa: PLR2004
            raise SettingError(
                field, f"{entry.strip()!r} is not host:port (a comma-separated list)"
            )
        out.append((host, int(port)))
    return out


class AmqpSettings(Section):
    """RabbitMQ connection (`${ENV_PREFIX}RABBITMQ_USER/PASSWORD/VHOST`)."""

    env_section = "RABBITMQ_"
    prefixed = True

    host: Annotated[
        str,
        Env(shared=True),
        Field(
            min_length=1,
            description="Broker host, or a comma-separated list of a cluster's nodes (`host` "
            "or `host:port` each; connections fail over between them, docs/clusters.md).",
        ),
    ]
    port: Annotated[
        Port, Env(shared=True), Field(description="Broker port (of hosts listed without one).")
    ] = 5672
    user: Annotated[str, Field(min_length=1, description="The service's own broker user.")]
    password: Annotated[SecretStr, Field(description="Password of the broker user.")]
    vhost: Annotated[str, Field(min_length=1, description="Virtual host.")] = "/"
    tls: Annotated[
        bool,
        Env(shared=True),
        Field(
            description="Connect with TLS (amqps, usually port 5671); required in staging and prod."
        ),
    ] = False
    tls_verify: Annotated[
        bool,
        Env(shared=True),
        Field(description="Verify the server's certificate and name (false: encrypt only)."),
    ] = True
    tls_server_name: Annotated[
        str | None,
        Env(shared=True),
        Field(
            min_length=1,
            description="Name the server's certificate must carry (and SNI); unset: RABBITMQ_HOST.",
        ),
    ] = None
    ca_file: Annotated[
        str | None,
        Env(shared=True),
        Field(
            min_length=1,
            description="PEM file of the CA that signs the server's certificate (mounted from "
            "a Secret); unset: the system's CAs.",
        ),
    ] = None
    cert_file: Annotated[
        str | None,
        Field(min_length=1, description="PEM client certificate, if the server asks for one."),
    ] = None
    keyfile: Annotated[
        str | None,
        Env("RABBITMQ_KEY_FILE"),
        Field(min_length=1, description="PEM private key of RABBITMQ_CERT_FILE (a file path)."),
    ] = None
    allow_insecure: Annotated[
        str | None,
        Env(shared=True),
        Field(
            min_length=1,
            description="Why a plaintext or unverified connection is accepted in staging or "
            "prod; unset: refused there.",
        ),
    ] = None
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
        """Return the AMQP URL with the password, wrapped so that it is not logged by mistake.

        With TLS it is `amqps://` and carries aiormq's TLS keywords (`cafile`, `certfile`,
        `keyfile`, `no_verify_ssl`) and `server_name`, so that every user of the URL (the
        publisher, the consumer, the DLQ and topology tools) connects alike; svcinfra's
        `messaging._connect.connect_amqp` builds the context from them, server name included.
        """
        user = quote(self.user, safe="")
        password = quote(self.password.get_secret_value(), safe="")
        vhost = quote(self.vhost, safe="")
        query: dict[str, str | int] = {
            "heartbeat": self.heartbeat,
            "connection_timeout": int(self.connect_timeout * 1000),
        }
        if self.tls:
            tls = {
                "cafile": self.ca_file,
                "certfile": self.cert_file,
                "keyfile": self.keyfile,
                "server_name": self.tls_server_name,
            }
            query.update({keyword: value for keyword, value in tls.items() if value})
            if not self.tls_verify:
                query["no_verify_ssl"] = 1
        scheme = "amqps" if self.tls else "amqp"
        # Several nodes are written as one URL with a host list, `amqp://u:p@a:5672,b:5672/v`,
        # that `connect_amqp` splits into one URL per node (aio_pika takes one host).
        hosts = join_hosts(self.addresses())
        return SecretStr(
            f"{scheme}://{user}:{password}@{hosts}/{vhost}"
            f"?{urlencode(query, quote_via=quote, safe='/')}",
        )

    @field_validator("host")
    @classmethod
    def _host_list(cls, value: str) -> str:
        host_list(value, 5672)  # the entries parse
        return value

    def addresses(self) -> tuple[tuple[str, int], ...]:
        """The nodes of RABBITMQ_HOST as (host, port) pairs, in the order given."""
        return host_list(self.host, self.port)

    @model_validator(mode="after")
    def _tls_files(self) -> Self:
        if not self.tls:
            for field in ("tls_server_name", "ca_file", "cert_file", "keyfile"):
                if getattr(self, field) is not None:
                    name = "KEY_FILE" if field == "keyfile" else field.upper()
                    raise SettingError(field, f"RABBITMQ_{name} is set but RABBITMQ_TLS is false")
        _client_pair(self.cert_file, self.keyfile, "RABBITMQ_")
        return self

    def insecure_transport(self) -> tuple[str, str] | None:
        """Why the connection is plaintext or unverified, unless allowed (issue 17)."""
        if self.allow_insecure:
            return None
        if not self.tls:
            return (
                "tls",
                (
                    "is false: staging and prod connect with TLS, or set "
                    "RABBITMQ_ALLOW_INSECURE to the reason"
                ),
            )
        if not self.tls_verify:
            return (
                "tls_verify",
                (
                    "is false: staging and prod verify the server, or set "
                    "RABBITMQ_ALLOW_INSECURE to the reason"
                ),
            )
        return None


_PG_TLS = TlsNames.of("POSTGRES_", switch="SSLMODE", server_name="HOST")
_REDIS_TLS = TlsNames.of("REDIS_", switch="TLS", server_name="TLS_SERVER_NAME")


def _client_pair(cert_file: str | None, key_file: str | None, section: str) -> None:
    """A client certificate comes with its key, and a key with its certificate."""
    if cert_file and not key_file:
        raise SettingError("keyfile", f"required with {section}CERT_FILE (its private key)")
    if key_file and not cert_file:
        raise SettingError("cert_file", f"required with {section}KEY_FILE (the certificate)")


def host_list(hosts: str, default_port: int) -> tuple[tuple[str, int], ...]:
    """Parse a comma-separated host list: `host`, `host:port`, `[v6]` or `[v6]:port` each.

    A bare IPv6 address (more than one colon, no brackets) is a host without a port.

    Raises:
        ValueError: an entry is empty, or its port is not a number in 1-65535.
    """
    addresses: list[tuple[str, int]] = []
    for raw in hosts.split(","):
        entry = raw.strip()
        host, port = entry, default_port
        if entry.startswith("["):
            host, _, rest = entry[1:].partition("]")
            if rest:
                port = _port_of(entry, rest.removeprefix(":") if rest.startswith(":") else "")
        elif entry.count(":") == 1:
            host, _, text = entry.partition(":")
            port = _port_of(entry, text)
        if not host:
            raise ValueError(f"empty host in the host list {hosts!r}")
        addresses.append((host, port))
    return tuple(addresses)


def join_hosts(addresses: tuple[tuple[str, int], ...]) -> str:
    """Write (host, port) pairs as a URL's host list: `a:5432,b:6432`, IPv6 in brackets."""
    return ",".join(f"{_host(host)}:{port}" for host, port in addresses)


def _port_of(entry: str, text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:  # noqa: PLR2004  (the port range)
        raise ValueError(f"{entry!r}: the port after the host must be a number in 1-65535")
    return int(text)


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
