"""`Outbox`: events written in the caller's transaction (`add`, `add_many`), checked first."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from svcinfra.messaging import headers as hdr
from svcinfra.messaging._errors import InvalidMessageError, PayloadValidationError
from svcinfra.messaging.storage import queries

from ._dispatch import Dispatched

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from svcinfra.messaging.contract import Contract
    from svcinfra.postgres import Transaction

    from ._dispatch import Dispatcher

HeaderValue = str | int | float | bool | None


class Outbox:
    """Writes the contract's messages to `svcinfra_outbox` inside the caller's transaction.

        async with db.transaction() as tx:
            await users.create(tx, user)
            await outbox.add(tx, "user.registered.v1", payload, correlation_id=request_id)

    The message is checked as the publisher would check it (a send operation of the contract, a
    payload that satisfies its schema, no reserved header) before the row is written, so a bad
    event fails the business transaction instead of stalling the relay later. The row's id is
    the message_id the relay publishes it with, on every attempt (MQ-6).

    With a `dispatcher` (`Dispatcher`), the process publishes its rows itself right after the
    commit, while the dispatcher is `accepting`; the relay sends what it could not.
    """

    __slots__ = ("_add", "_add_leased", "_add_leased_many", "_add_many", "_contract", "_dispatcher")

    def __init__(self, contract: Contract, *, dispatcher: Dispatcher | None = None) -> None:
        self._contract = contract
        self._dispatcher = dispatcher
        loaded = queries()
        self._add = loaded.query("outbox__add")
        self._add_leased = loaded.query("outbox__add_leased")
        self._add_many = loaded.query("outbox__add_many")
        self._add_leased_many = loaded.query("outbox__add_leased_many")

    async def add(
        self,
        tx: Transaction,
        message_name: str,
        payload: Mapping[str, Any],
        *,
        correlation_id: str | None = None,
        headers: Mapping[str, HeaderValue] | None = None,
    ) -> str:
        """Validate the message and write it in `tx`; return its message_id.

        The relay is woken when `tx` commits (NOTIFY is transactional), or, with an accepting
        dispatcher, the row is published by this process once `tx` commits; nothing is sent if
        it rolls back.

        Raises:
            UnknownMessageError: the contract has no send operation for `message_name`.
            PayloadValidationError: the payload violates the message's schema.
            InvalidMessageError: a reserved or `x-` header, or a payload that is not JSON.
        """
        row = self._row(OutboxMessage(message_name, payload, correlation_id, headers))
        dispatcher = self._dispatcher
        if dispatcher is None or not dispatcher.take():
            await tx.exec(self._add, *row.columns())
            return row.message_id
        created_at = await tx.one(self._add_leased, *row.columns(), dispatcher.lease, row=datetime)
        dispatched = row.dispatched(created_at)
        tx.after_commit(lambda: dispatcher.dispatch(dispatched))
        return row.message_id

    async def add_many(self, tx: Transaction, messages: Sequence[OutboxMessage]) -> list[str]:
        """Validate every message, then write them all in `tx`; return their message_ids.

        What `add` does for each, in one statement for them all (two with a dispatcher that
        takes some of them but not all), and one NOTIFY: a group of messages written together
        (the consumer's recording group, `Consumer.on_external(record_many=...)`) costs a
        round trip, not one per message. Every message is checked before anything is written,
        so one invalid message writes none of them. An empty sequence writes nothing.

        Raises:
            UnknownMessageError: the contract has no send operation for a message's name.
            PayloadValidationError: a payload violates its message's schema.
            InvalidMessageError: a reserved or `x-` header, or a payload that is not JSON.
        """
        rows = [self._row(message) for message in messages]
        dispatcher = self._dispatcher
        leased: list[_Row] = []
        plain = rows
        if dispatcher is not None:
            plain = []
            for row in rows:
                (leased if dispatcher.take() else plain).append(row)
        if plain:
            await tx.exec(self._add_many, *_arrays(plain))
        if leased and dispatcher is not None:
            written = await tx.many(
                self._add_leased_many, *_arrays(leased), dispatcher.lease, row=_Leased
            )
            created = {item.message_id: item.created_at for item in written}
            dispatched = [row.dispatched(created[row.message_id]) for row in leased]

            def dispatch() -> None:
                for item in dispatched:
                    dispatcher.dispatch(item)

            tx.after_commit(dispatch)
        return [row.message_id for row in rows]

    def _row(self, message: OutboxMessage) -> _Row:
        """Check `message` as the publisher would and encode its row (a new message_id)."""
        name = message.message_name
        self._contract.publication(name)
        problems = self._contract.validator(name).problems(message.payload)
        if problems:
            raise PayloadValidationError(message_name=name, problems=problems)
        extra = dict(message.headers or {})
        bad = sorted(n for n in extra if n in hdr.RESERVED or n.lower().startswith("x-"))
        if bad:
            raise InvalidMessageError(
                f"headers {bad} are reserved (svcinfra's own or broker-owned x-*)",
                message_name=name,
            )
        try:
            body = json.dumps(message.payload, separators=(",", ":"), allow_nan=False)
            encoded_headers = json.dumps(extra, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidMessageError(
                f"payload or headers are not JSON: {type(exc).__name__}", message_name=name
            ) from exc
        return _Row(str(uuid.uuid4()), name, body, message.correlation_id, extra, encoded_headers)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message for `Outbox.add_many`: what `Outbox.add` takes as arguments."""

    message_name: str
    payload: Mapping[str, Any]
    correlation_id: str | None = None
    headers: Mapping[str, HeaderValue] | None = None


@dataclass(frozen=True, slots=True)
class _Row:
    """A checked message, encoded as its outbox row."""

    message_id: str
    message_name: str
    body: str
    correlation_id: str | None
    headers: dict[str, HeaderValue]
    encoded_headers: str

    def columns(self) -> tuple[str, str, str, str | None, str]:
        return (
            self.message_id,
            self.message_name,
            self.body,
            self.correlation_id,
            self.encoded_headers,
        )

    def dispatched(self, created_at: datetime) -> Dispatched:
        return Dispatched(
            message_id=self.message_id,
            message_name=self.message_name,
            body=self.body,
            correlation_id=self.correlation_id,
            headers=self.headers or None,
            committed_at=created_at.timestamp(),
        )


@dataclass(frozen=True, slots=True)
class _Leased:
    """A row `outbox__add_leased_many` wrote (mapped by column name, PG-8)."""

    message_id: str
    created_at: datetime


def _arrays(rows: Sequence[_Row]) -> tuple[list[Any], ...]:
    """The rows' columns as the five arrays `outbox__add_many` unnests."""
    return tuple(list(column) for column in zip(*(row.columns() for row in rows), strict=True))
