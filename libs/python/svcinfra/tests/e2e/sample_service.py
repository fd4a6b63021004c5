"""A sample service for the e2e tests of `svcinfra.app.run`, steered by `E2E_MODE`.

Modes:
    normal:     three fake resources (`first`, `second` closing in ~1 s, `third`), a readiness
                check, a worker task and an API on API_PORT (`GET /hello`, and `GET /gc`: the
                collector's thresholds and frozen count); runs until a signal.
    slow:       as normal, but `second` takes a minute to close (signals during the drain).
    fail-start: opens `first` and `second`, then setup raises (with a secret in the message).
    crash-task: as normal, but the worker task raises shortly after the start.
    slow-start: opens `first`, then setup waits a minute (a signal arrives during the start).
"""

from __future__ import annotations

import asyncio
import gc
import os
from typing import TYPE_CHECKING, Annotated, Self

from pydantic import Field, SecretStr
from starlette.applications import Starlette
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route

from svcinfra.app import AsgiServer, Lifecycle, run
from svcinfra.config import Config, PostgresSettings, Section
from svcinfra.observability import get_logger

if TYPE_CHECKING:
    from starlette.requests import Request

log = get_logger("sample")


class PaymentsApiSettings(Section):
    """A service-specific section with a secret of its own."""

    env_section = "PAYMENTS_API_"
    prefixed = True

    url: Annotated[str, Field(description="Base URL.")] = "https://payments.example.com"
    token: Annotated[SecretStr, Field(description="API token.")]


class SampleConfig(Config):
    postgres: PostgresSettings
    payments_api: PaymentsApiSettings


class FakeResource:
    """An async context manager that logs when it opens and closes."""

    def __init__(self, name: str, *, close_delay: float = 0.0) -> None:
        self.name = name
        self.close_delay = close_delay

    async def __aenter__(self) -> Self:
        log.info("opened %s", self.name)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        log.info("closing %s", self.name)
        await asyncio.sleep(self.close_delay)
        log.info("closed %s", self.name)


async def setup(lc: Lifecycle, config: SampleConfig) -> None:
    mode = os.environ.get("E2E_MODE", "normal")
    # A line a careless service might write: the DSN, password included. It must be masked.
    log.info("connecting", dsn=config.postgres.dsn().get_secret_value())
    await lc.enter(FakeResource("first"), name="first")
    if mode == "slow-start":
        await asyncio.sleep(60)
    slow = 60.0 if mode == "slow" else 1.0
    await lc.enter(FakeResource("second", close_delay=slow), name="second")
    if mode == "fail-start":
        token = config.payments_api.token.get_secret_value()
        raise RuntimeError(f"cannot reach the payments API with token {token}")
    await lc.enter(FakeResource("third"), name="third")

    async def database_ready() -> bool:
        return True

    lc.add_readiness_check("database", database_ready)

    async def worker() -> None:
        if mode == "crash-task":
            await asyncio.sleep(0.3)
            raise RuntimeError("worker crashed")
        await asyncio.Event().wait()

    lc.add_task("worker", worker)

    async def hello(_: Request) -> PlainTextResponse:
        return PlainTextResponse("hello")

    async def gc_state(_: Request) -> JSONResponse:
        return JSONResponse({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count()})

    api = AsgiServer(
        Starlette(routes=[Route("/hello", hello), Route("/gc", gc_state)]),
        host=config.http.host,
        port=config.http.api_port,
    )
    lc.add_task("api", api.serve, stop=api.request_stop, drain=api.drain)


if __name__ == "__main__":
    run(SampleConfig, setup)
