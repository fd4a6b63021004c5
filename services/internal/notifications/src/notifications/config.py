"""The notifications service's one configuration, read from the environment (CF-1, CF-4, CF-6).

With `ENV_PREFIX=NOTIFICATIONS_` the credentials are `NOTIFICATIONS_POSTGRES_USER/PASSWORD/DB`,
`NOTIFICATIONS_RABBITMQ_USER/PASSWORD` and `NOTIFICATIONS_MAIL_API_API_KEY`: no other service's
variables can be read by mistake, and the mail API key never falls back to an unprefixed name.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, SecretStr, field_validator

from svcinfra.config import AmqpSettings, Config, PostgresSettings, Section
from svcinfra.httpclient import HttpClientSettings, Seconds
from svcinfra.messaging.outbox import RelaySettings


class SentRelaySettings(RelaySettings):
    """The relay of `notification.sent.v1`, and whether the consumer publishes it itself.

    The consumer's own publish (`writer_publish`) is off by default here: nothing waits for this
    event within milliseconds, and the consumer's CPU is the email side's capacity (issue 19:
    on the reference machine its publishes cost the consumer more than they save anyone).
    """

    writer_publish: Annotated[
        bool,
        Field(
            description="The consumer publishes notification.sent.v1 right after its commit "
            "instead of leaving it to the relay (off: nothing needs it sooner).",
        ),
    ] = False


class MailApiSettings(HttpClientSettings):
    """The external mail API: where it is, its key, and how long a call may take (EX-2, EX-5).

    The defaults bound one call (the adapter's own retries included) to 10 s, well under the
    consumer's handler timeout, so a slow API fails the attempt instead of holding the message.
    """

    env_section = "MAIL_API_"
    prefixed = True

    api_key: Annotated[SecretStr, Field(description="Bearer key of the mail API (a Secret).")]
    connect_timeout: Annotated[Seconds, Field(description="Seconds to open a connection.")] = 1.0
    read_timeout: Annotated[Seconds, Field(description="Seconds to wait for each chunk read.")] = (
        5.0
    )
    write_timeout: Annotated[Seconds, Field(description="Seconds to wait for each chunk sent.")] = (
        5.0
    )
    pool_timeout: Annotated[Seconds, Field(description="Seconds to wait for a connection.")] = 1.0
    deadline: Annotated[
        Seconds,
        Field(description="Seconds a whole call may take, the adapter's retries included."),
    ] = 10.0
    idempotency_ttl: Annotated[
        float,
        Field(
            gt=0,
            le=30 * 86_400,
            description="Seconds the mail API keeps an idempotency key's answer (the provider's "
            "key lifetime, or less): an unconfirmed send older than this is dead-lettered for "
            "reconciliation instead of sent again.",
        ),
    ] = 86_400.0


class ConsumerSettings(Section):
    """How `notifications consume` takes messages, and where its topology lives (MQ-7, MQ-9).

    `TOPOLOGY_PREFIX` and `RETRY_BACKOFF` leave the contract's production values in place when
    unset; a dev slot or a test run sets them to get names of its own on a shared broker and
    short retry tiers.
    """

    env_section = "CONSUMER_"

    # 50, not 10: the mail call holds each message for milliseconds, and the consumer's inbox
    # checks and recordings are grouped (docs/performance.md, "Session 6"): a wider window
    # lets the groups fill; at 10 the window, not the CPU, limited the pipeline.
    prefetch: Annotated[
        int, Field(ge=1, le=1000, description="Unacked messages the consumer holds (MQ-7).")
    ] = 50
    handler_timeout: Annotated[
        Seconds,
        Field(description="Seconds one message may take: the mail call plus its recording."),
    ] = 30.0
    drain_timeout: Annotated[
        Seconds,
        Field(description="Seconds a shutdown waits for in-flight messages before returning them."),
    ] = 15.0
    topology_prefix: Annotated[
        str | None,
        Field(
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$",
            description="Prefix of every exchange and queue name (dev slots, tests); unset: none.",
        ),
    ] = None
    retry_backoff: Annotated[
        str | None,
        Field(
            pattern=r"^\d+(ms|s|m)(,\d+(ms|s|m))*$",
            description="Comma-separated retry tier delays replacing the contract's (1s,5s,30s).",
        ),
    ] = None

    inbox_retention: Annotated[
        float,
        Field(
            gt=0,
            le=90 * 86_400,
            description="Seconds a processed message's inbox row is kept (MQ-3); longer than "
            "the retry tiers' horizon (checked at start-up) and than a dead letter waits for "
            "its replay.",
        ),
    ] = 7 * 86_400.0
    inbox_purge_interval: Annotated[
        Seconds, Field(description="Seconds between two runs of the inbox purge job.")
    ] = 600.0

    @field_validator("retry_backoff", mode="before")
    @classmethod
    def _no_spaces(cls, value: object) -> object:
        return value.replace(" ", "") if isinstance(value, str) else value

    def backoff(self) -> tuple[str, ...] | None:
        """The retry tier delays that replace the contract's, or None to keep them."""
        return tuple(self.retry_backoff.split(",")) if self.retry_backoff else None


class NotificationsConfig(Config):
    """Every setting of the notifications service (CF-6: validated once, at start-up)."""

    postgres: PostgresSettings
    amqp: AmqpSettings
    mail_api: MailApiSettings
    consumer: ConsumerSettings
    outbox_relay: SentRelaySettings
