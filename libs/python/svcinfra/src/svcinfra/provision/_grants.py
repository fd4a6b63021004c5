"""A broker user's permissions, derived from its AsyncAPI contract (CF-4, MQ-1).

RabbitMQ authorises each operation against one of three regular expressions per user and vhost
(https://www.rabbitmq.com/docs/access-control#authorisation):

* configure: declaring or deleting a queue or exchange;
* write: publishing to an exchange, binding a queue (write on the queue), declaring a queue that
  dead-letters (write on its dead-letter exchange);
* read: consuming, getting or purging a queue, binding from an exchange, declaring a queue that
  dead-letters (read on the queue).

The contract's topology (`Topology.from_contract`, what the service declares at start-up) gives
the names: configure = every exchange and queue it declares (work, retry and dead-letter queues);
write = the exchanges it publishes to, its queues (bindings), and `amq.default` where its queues
dead-letter or its consumer republishes retries (both go through the default exchange);
read = its queues and the exchanges it binds them to. Each is an anchored alternation of escaped
names, never a prefix: `users.` would also match `users.events-audit` created by anyone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from svcinfra.messaging.topology import QueueRole, Topology

if TYPE_CHECKING:
    from collections.abc import Iterable

    from svcinfra.messaging.contract import Contract

DEFAULT_EXCHANGE_RESOURCE = "amq.default"
"""The name RabbitMQ checks permissions on for the default exchange `""`."""
NOTHING = "^$"
"""Matches no resource (RabbitMQ's own form of "no permission")."""


@dataclass(frozen=True, slots=True)
class Grant:
    """RabbitMQ permissions of one user on one vhost: regular expressions over resource names."""

    configure: str
    write: str
    read: str


RETRY_DELAY = r"\.retry\.[0-9]+(?:ms|s|m|h)"
"""What follows a work queue's name in the name of one of its retry tiers' wait queues."""


def exact_pattern(names: Iterable[str], patterns: Iterable[str] = ()) -> str:
    """Return `^(?:a|b)$` matching exactly `names` (escaped) and `patterns`, or `^$` for none.

    `patterns` are regular expressions trusted as they are (the retry tiers' wait queues).
    """
    literal = {DEFAULT_EXCHANGE_RESOURCE if name == "" else name for name in names}
    alternatives = sorted(re.escape(name) for name in literal) + sorted(set(patterns))
    if not alternatives:
        return NOTHING
    return "^(?:" + "|".join(alternatives) + ")$"


def grant_for_contract(contract: Contract, *, prefix: str | None = None) -> Grant:
    """The narrowest permissions under which the service's contract works (see the module).

    The wait queues of a work queue's retry tiers are `<queue>.retry.<delay>` for any delay,
    since a deployment may set other tiers than the contract's (`CONSUMER_RETRY_BACKOFF`).

    Args:
        contract: the service's contract.
        prefix: the topology prefix the service runs with (`<prefix>.` before every exchange
            and queue name, e.g. `CONSUMER_TOPOLOGY_PREFIX` of a dev slot); None or "": none.
    """

    def named(name: str) -> str:
        return f"{prefix}.{name}" if prefix and name else name

    topology = Topology.from_contract(contract)
    waits = {
        re.escape(named(c.queue.name)) + RETRY_DELAY
        for c in contract.consumptions
        if c.retry.delays_ms
    }
    retry = {queue.name for queue in topology.queues if queue.role is QueueRole.RETRY}
    exchanges = {named(exchange.name) for exchange in topology.exchanges}
    queues = {named(queue.name) for queue in topology.queues if queue.name not in retry}
    published = {named(p.exchange.name) for p in contract.publications.values()}
    bound_from = {named(binding.exchange) for binding in topology.bindings}
    default_exchange = set()
    if contract.consumptions or any(
        "x-dead-letter-exchange" in queue.arguments for queue in topology.queues
    ):
        default_exchange.add(DEFAULT_EXCHANGE_RESOURCE)
    return Grant(
        configure=exact_pattern(exchanges | queues, waits),
        write=exact_pattern(published | queues | default_exchange, waits),
        read=exact_pattern(queues | bound_from, waits),
    )
