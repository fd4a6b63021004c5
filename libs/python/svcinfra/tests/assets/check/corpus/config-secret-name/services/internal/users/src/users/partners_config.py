"""Settings of the partner APIs the users service calls: secrets marked, or not."""

from __future__ import annotations

import typing
from typing import Annotated, ClassVar, Optional

import pydantic
from pydantic import Field, SecretStr

from svcinfra import config as svc_config
from svcinfra.config import Config, NotSecret, Section
from svcinfra.httpclient import HttpClientSettings


class PartnerSettings(Section):
    env_section = "PARTNER_"
    prefixed = True

    api_key: str  # expect: CF-3
    client_secret: Annotated[str, Field(min_length=16)] = ""  # expect: CF-3
    refresh_token: Optional[str] = None  # expect: CF-3  # noqa: UP045
    signing_key: "str | None" = None  # expect: CF-3
    password: bytes = b""  # expect: CF-3
    webhook_secret: str | None = None  # expect: CF-3

    routing_key: str = "partner.events"  # ok: not a secret by name (the key of a route)
    token_url: str = "https://partner.example/oauth/token"  # ok: where a token is fetched
    private_key_file: str = "/etc/partner/key.pem"  # ok: a path, the file is the secret
    access_token: SecretStr  # ok: typed SecretStr
    webhook_token: typing.Optional[pydantic.SecretStr] = None  # ok: SecretStr, qualified  # noqa: UP045
    publishable_api_key: Annotated[str, NotSecret("Stripe's publishable key is public")] = ""  # ok: marked
    license_key: Annotated[str, svc_config.NotSecret("printed on the invoice")] = ""  # ok: marked
    tokens_per_second: ClassVar[int] = 10  # ok: a class constant, not a setting


class BillingSettings(HttpClientSettings):
    env_section = "BILLING_"

    auth_token: str  # expect: CF-3


class AuditApiSettings(BillingSettings):
    env_section = "AUDIT_"

    apiKey: str = ""  # expect: CF-3  # noqa: N815


class PartnersConfig(Config):
    partner: PartnerSettings
    billing: BillingSettings


class Credentials:
    """Not a configuration class: the rule leaves it alone."""

    password: str = ""  # ok: not a Section or Config
