"""The configuration of the fake `mailer` service."""

from typing import Annotated

from pydantic import Field, SecretStr

from svcinfra.config import Config, PostgresSettings, Section


class WebhookSettings(Section):
    """The webhook the mailer calls: a URL without a default, a key and a token."""

    env_section = "WEBHOOK_"
    prefixed = True

    url: Annotated[str, Field(min_length=1, description="Where deliveries are reported.")]
    signing_key: Annotated[SecretStr, Field(description="HMAC key that signs each report.")]
    api_token: Annotated[SecretStr, Field(description="Bearer token of the webhook.")]
    timeout: Annotated[float, Field(gt=0, description="Seconds a report may take.")] = 5.0


class MailerConfig(Config):
    """A service with a database and a webhook (CF-4: MAILER_ prefix)."""

    postgres: PostgresSettings
    webhook: WebhookSettings
