"""`RelaySettings`: how an outbox relay retries and when it parks a row (a config section)."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import Field, model_validator

from svcinfra.config import Section, SettingError


class RelaySettings(Section):
    """The outbox relay's retry and parking policy (`OUTBOX_RELAY_*`, issue 16).

    A service adds it to its Config (`outbox_relay: RelaySettings`) and passes
    `**config.outbox_relay.options()` to `Relay.from_settings`.
    """

    env_section = "OUTBOX_RELAY_"

    max_failures: Annotated[
        int,
        Field(
            ge=1,
            le=1000,
            description="Failed publishes no retry changes (exchange gone, payload invalid) "
            "after which a row is parked for `svcinfra outbox`.",
        ),
    ] = 10
    retry_delay: Annotated[
        float,
        Field(gt=0, le=3600, description="Seconds before a failed row's next attempt; doubles."),
    ] = 5.0
    max_retry_delay: Annotated[
        float,
        Field(gt=0, le=86_400, description="Longest wait between two attempts of a row, seconds."),
    ] = 300.0
    max_restart_delay: Annotated[
        float,
        Field(gt=0, le=3600, description="Longest pause before a failed relay loop restarts."),
    ] = 60.0

    @model_validator(mode="after")
    def _delays(self) -> Self:
        if self.max_retry_delay < self.retry_delay:
            raise SettingError("max_retry_delay", "must not be shorter than RETRY_DELAY")
        return self

    def options(self) -> dict[str, Any]:
        """The keyword options of `Relay` these settings set."""
        return {
            "max_failures": self.max_failures,
            "retry_delay": self.retry_delay,
            "max_retry_delay": self.max_retry_delay,
            "max_restart_delay": self.max_restart_delay,
        }
