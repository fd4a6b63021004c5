"""The composition root: the only module that wires adapters to the domain's ports (ARCH-1).

Two processes run from it: `users serve` (the HTTP API) and `users relay` (the outbox relay).
Both load `UsersConfig` from the environment and run under `svcinfra.app.run`: exit 78 on an
invalid environment, JSON logs, the tech port (/health/livez, /health/readyz, /metrics), and a
graceful shutdown on SIGTERM.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from svcinfra.app import AsgiServer, Lifecycle, run
from svcinfra.cache import KeyNamespace, create_cache_client
from svcinfra.messaging import Contract, Publisher
from svcinfra.messaging.outbox import Dispatcher, Outbox, Relay
from svcinfra.postgres import Database, load_queries
from users.cache.redis.profiles import NAMESPACE, RedisProfileCache
from users.config import UsersConfig
from users.domain.service import UsersService
from users.mq.events import OutboxUserEvents
from users.mq.topology import declare_events, events_contract
from users.repository.postgres.transactions import PostgresTransactions
from users.repository.postgres.users.repository import PostgresUserReader, PostgresUserWriter
from users.transport.http import build_api

if TYPE_CHECKING:
    from fastapi import FastAPI

    from svcinfra.cache import CacheClient
    from svcinfra.config import PostgresSettings

SERVICE = "users"


@dataclass(frozen=True, slots=True)
class Wiring:
    """What the processes vary, and tests replace: the contract and the cache's key family."""

    contract: Contract = field(default_factory=events_contract)
    namespace: KeyNamespace = NAMESPACE


def build_service(
    db: Database, cache: CacheClient, wiring: Wiring, dispatcher: Dispatcher | None = None
) -> UsersService:
    """The use cases over PostgreSQL, the Redis profile cache and the outbox."""
    queries = load_queries("users")
    outbox = Outbox(wiring.contract, dispatcher=dispatcher)
    transactions = PostgresTransactions(
        db,
        users=lambda tx: PostgresUserWriter(tx, queries),
        events=lambda tx: OutboxUserEvents(functools.partial(outbox.add, tx)),
    )
    return UsersService(
        PostgresUserReader(db, queries),
        transactions,
        RedisProfileCache(cache, namespace=wiring.namespace),
    )


def build_app(
    db: Database,
    cache: CacheClient,
    wiring: Wiring | None = None,
    dispatcher: Dispatcher | None = None,
) -> FastAPI:
    """The HTTP API app over these resources."""
    return build_api(build_service(db, cache, wiring or Wiring(), dispatcher))


async def open_database(lc: Lifecycle, settings: PostgresSettings) -> Database:
    """Open the pool, close it last, and make readiness depend on it (Postgres is critical)."""
    db = await Database.connect(settings, application_name=SERVICE)
    lc.push_close("postgres", db.close)
    lc.add_readiness_check("postgres", db.ping)
    return db


async def setup_serve(lc: Lifecycle, config: UsersConfig, wiring: Wiring | None = None) -> None:
    """`users serve`: the HTTP API on API_PORT.

    Redis is not a readiness check: the cache fails open, so the API answers from PostgreSQL
    while Redis is down (RD-1). Neither is RabbitMQ: with `OUTBOX_RELAY_WRITER_PUBLISH` the API
    publishes the events it commits itself (a hop less to the consumer), but only while its
    broker connection is up; the relay sends the rest (`Dispatcher`).
    """
    wiring = wiring or Wiring()
    db = await open_database(lc, config.postgres)
    cache = create_cache_client(config.redis, name=SERVICE)
    lc.push_close("redis", cache.aclose)
    dispatcher = None
    if config.outbox_relay.writer_publish:
        publisher = Publisher.from_settings(wiring.contract, config.amqp, name=f"{SERVICE}-api")
        lc.push_close("publisher", publisher.close)
        dispatcher = Dispatcher(db, publisher, **config.outbox_relay.dispatcher_options())
        lc.push_close("outbox-dispatcher", dispatcher.close)
        lc.add_task("outbox-dispatcher", dispatcher.run, stop=dispatcher.stop)
    api = AsgiServer(
        build_app(db, cache, wiring, dispatcher),
        host=config.http.host,
        port=config.http.api_port,
        drain_timeout=max(1, int(config.service.shutdown_timeout / 2)),
    )
    lc.add_task("api", api.serve, stop=api.request_stop, drain=api.drain)


async def setup_relay(lc: Lifecycle, config: UsersConfig, wiring: Wiring | None = None) -> None:
    """`users relay`: declare the events exchange, then publish committed outbox rows."""
    wiring = wiring or Wiring()
    db = await open_database(lc, config.postgres)
    await declare_events(config.amqp, wiring.contract)
    publisher = Publisher.from_settings(wiring.contract, config.amqp, name=f"{SERVICE}-relay")
    await publisher.start()
    lc.push_close("publisher", publisher.close)

    # Reconnects if needed; raises while the broker is down or blocks publishing (an alarm).
    lc.add_readiness_check("rabbitmq", publisher.check)
    relay = Relay.from_settings(db, publisher, config.postgres, **config.outbox_relay.options())
    lc.add_readiness_check("outbox-relay", relay.ready)
    lc.add_task("outbox-relay", relay.run, stop=relay.stop)


def serve() -> None:
    """Run `users serve` until a signal stops it; exits the process."""
    run(UsersConfig, setup_serve)


def relay() -> None:
    """Run `users relay` until a signal stops it; exits the process."""
    run(UsersConfig, setup_relay)
