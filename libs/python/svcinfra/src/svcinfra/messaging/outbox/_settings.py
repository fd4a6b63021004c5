"""`RelaySettings`: how an outbox relay retries and when it parks a row (a config section)."""

from __future__ import annotations

from typing import Annotated, Any, Self

from pydantic import Field, model_validator

from svcinfra.config import Section, SettingError


class RelaySettings(Section):
    """The outbox relay's retry and parking policy (`OUTBOX_RELAY_*`, issue 16).

    A service adds it to its Config (`outbox_relay: RelaySettings`) and passes
    `**config.outbox_relay.options()` to `Relay.from_settings`; its writing process reads
    `writer_publish`, `writer_lease` and `writer_max_rate` for its `Dispatcher`
    (`dispatcher_options()`).
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

    writer_publish: Annotated[
        bool,
        Field(
            description="The process that commits an outbox row (the API) publishes it right "
            "after the commit; the relay sends only what it could not (issue 19).",
        ),
    ] = True
    writer_lease: Annotated[
        float,
        Field(
            gt=0,
            le=300,
            description="Seconds a row its writer publishes is leased to it before the relay "
            "may send it (a writer that died); each writer publish gets half of it.",
        ),
    ] = 15.0
    writer_max_rate: Annotated[
        float,
        Field(
            gt=0,
            le=100_000,
            description="Rows a second a writing process publishes at most itself; beyond it "
            "the relay sends them (its batches cost the writer nothing under load).",
        ),
    ] = 20.0

    @model_validator(mode="after")
    def _delays(self) -> Self:
        if self.max_retry_delay < self.retry_delay:
            raise SettingError("max_retry_delay", "must not be shorter than RETRY_DELAY")
        return self

    def dispatcher_options(self) -> dict[str, Any]:
        """The keyword options of `Dispatcher` these settings set."""
        return {"lease": self.writer_lease, "max_rate": self.writer_max_rate}

    def options(self) -> dict[str, Any]:
        """The keyword options of `Relay` these settings set."""
        return {
            "max_failures": self.max_failures,
            "retry_delay": self.retry_delay,
            "max_retry_delay": self.max_retry_delay,
            "max_restart_delay": self.max_restart_delay,
        }
