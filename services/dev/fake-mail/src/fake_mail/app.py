"""The composition root: the mailbox, the fault injector and the API, served by svcinfra.app."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from svcinfra.app import AsgiServer

from .domain import FaultInjector, Mailbox, MailService
from .transport.http import build_api

if TYPE_CHECKING:
    from svcinfra.app import Lifecycle

    from .config import FakeMailConfig


async def setup(lc: Lifecycle, config: FakeMailConfig) -> None:
    """Wire the service and serve its API on API_PORT until shutdown (svcinfra serves TECH_PORT)."""
    settings = config.fake_mail
    journal = Path(settings.journal) if settings.journal else None
    mailbox = Mailbox(settings.idempotency_ttl, journal=journal)
    service = MailService(mailbox, FaultInjector(settings.faults()))
    api = AsgiServer(
        build_api(service, api_key=settings.api_key.get_secret_value()),
        host=config.http.host,
        port=config.http.api_port,
    )
    lc.add_task("api", api.serve, stop=api.request_stop, drain=api.drain)
