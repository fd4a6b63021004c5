"""Configuration."""

import os

from svcinfra.config import Config


class FakeMailConfig(Config):
    """The fake mail API's settings."""

    port: int = int(os.environ.get("FAKE_MAIL_PORT", "8025"))
