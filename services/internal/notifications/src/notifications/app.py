"""The composition root: the only module that wires adapters to the domain's ports (ARCH-1).

Two processes share it, each with its own `setup` for `svcinfra.app.run`:

* `consume`: declares the topology, then consumes `user.registered.v1` (mail API, Postgres);
* `relay`: publishes the outbox's `notification.sent.v1` rows with confirms.

Resources are opened into the lifecycle and closed in reverse order after the tasks stopped:
on SIGTERM the consumer stops taking messages, lets the in-flight ones finish (or returns them
to the queue unacked), then the mail client and the pool close.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from notifications.clients.mail import MailApi, MailApiMailer
from notifications.domain.service import WelcomeService
from notifications.mq import CONSUMER_NAME, load_service_contract
from notifications.mq.topology import consumer_topology, declare, relay_topology
from notifications.repository.postgres.deliveries import PostgresDeliveries
from notifications.repository.postgres.intents import PostgresIntents
from notifications.repository.postgres.outbox import OutboxSentEvents
from notifications.transport.mq import USER_REGISTERED, UserRegisteredHandler
from svcinfra.messaging import Publisher
from svcinfra.messaging.consumer import Consumer
from svcinfra.messaging.outbox import Dispatcher, Outbox, Relay
from svcinfra.postgres import Database, Queries, Transaction, load_queries

if TYPE_CHECKING:
    from notifications.config import NotificationsConfig
    from svcinfra.app import Lifecycle
    from svcinfra.messaging import Contract


@dataclass(frozen=True, slots=True)
class _DeliveryUnit:
    """The domain's `DeliveryUnit` of one transaction: the repository and the outbox."""

    deliveries: PostgresDeliveries
    events: OutboxSentEvents


def service_contract(config: NotificationsConfig) -> Contract:
    """The contract with the names and retry tiers the configuration asks for."""
    return load_service_contract(
        prefix=config.consumer.topology_prefix, backoff=config.consumer.backoff()
    )


async def _database(lc: Lifecycle, config: NotificationsConfig, role: str) -> Database:
    db = await Database.connect(config.postgres, application_name=f"notifications-{role}")
    lc.push_close("postgres", db.close)
    lc.add_readiness_check("postgres", db.ping)
    return db


def build_handler(
    mail_api: MailApi,
    db: Database,
    queries: Queries,
    contract: Contract,
    *,
    key_ttl: float,
    dispatcher: Dispatcher | None = None,
) -> UserRegisteredHandler[Transaction]:
    """Wire the `user.registered.v1` handler: mail adapter, intents, repository and outbox."""
    outbox = Outbox(contract, dispatcher=dispatcher)

    def unit(tx: Transaction) -> _DeliveryUnit:
        return _DeliveryUnit(PostgresDeliveries(tx, queries), OutboxSentEvents(tx, outbox))

    intents = PostgresIntents(db, queries)
    service = WelcomeService(MailApiMailer(mail_api), intents, key_ttl=key_ttl)
    return UserRegisteredHandler(service, unit)


async def setup_consume(lc: Lifecycle, config: NotificationsConfig) -> None:
    """Start `notifications consume`: topology, pool, mail client, consumer (MQ-7..MQ-10)."""
    contract = service_contract(config)
    await declare(config.amqp, consumer_topology(contract), name=CONSUMER_NAME)
    db = await _database(lc, config, "consume")
    mail_api = await lc.enter(MailApi(config.mail_api), name="mail-api")
    consumer = Consumer.from_settings(
        contract,
        db,
        config.amqp,
        name=CONSUMER_NAME,
        prefetch=config.consumer.prefetch,
        handler_timeout=config.consumer.handler_timeout,
        drain_timeout=config.consumer.drain_timeout,
        inbox_retention=config.consumer.inbox_retention,
        inbox_purge_interval=config.consumer.inbox_purge_interval,
    )
    dispatcher = None
    if config.outbox_relay.writer_publish:  # notification.sent.v1 leaves at the commit
        publisher = Publisher.from_settings(contract, config.amqp, name=f"{CONSUMER_NAME}-sent")
        lc.push_close("amqp-publisher", publisher.close)
        dispatcher = Dispatcher(db, publisher, **config.outbox_relay.dispatcher_options())
        lc.push_close("outbox-dispatcher", dispatcher.close)
        lc.add_task("outbox-dispatcher", dispatcher.run, stop=dispatcher.stop)
    handler = build_handler(
        mail_api,
        db,
        load_queries("notifications"),
        contract,
        key_ttl=config.mail_api.idempotency_ttl,
        dispatcher=dispatcher,
    )
    consumer.on_external(USER_REGISTERED, handler.send, record_many=handler.record_many)
    lc.add_readiness_check("amqp-consumer", consumer.ready)
    lc.add_task("consumer", consumer.run, stop=consumer.stop)


async def setup_relay(lc: Lifecycle, config: NotificationsConfig) -> None:
    """Start `notifications relay`: the exchange, pool, publisher and outbox relay (MQ-4, MQ-5)."""
    contract = service_contract(config)
    await declare(config.amqp, relay_topology(contract), name=f"{CONSUMER_NAME}-relay")
    db = await _database(lc, config, "relay")
    publisher = await lc.enter(
        Publisher.from_settings(contract, config.amqp, name=f"{CONSUMER_NAME}-relay"),
        name="amqp-publisher",
    )

    # Reconnects if needed; fails while the broker is down or blocks publishing (an alarm).
    lc.add_readiness_check("amqp-publisher", publisher.check)
    relay = Relay.from_settings(db, publisher, config.postgres, **config.outbox_relay.options())
    lc.add_readiness_check("outbox-relay", relay.ready)
    lc.add_task("outbox-relay", relay.run, stop=relay.stop)
