"""`Outbox.add`: an event written in the caller's transaction, checked against the contract."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from svcinfra.messaging import headers as hdr
from svcinfra.messaging._errors import InvalidMessageError, PayloadValidationError
from svcinfra.messaging.storage import queries

from ._dispatch import Dispatched

if TYPE_CHECKING:
    from collections.abc import Mapping

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

    __slots__ = ("_add", "_add_leased", "_contract", "_dispatcher")

    def __init__(self, contract: Contract, *, dispatcher: Dispatcher | None = None) -> None:
        self._contract = contract
        self._dispatcher = dispatcher
        loaded = queries()
        self._add = loaded.query("outbox__add")
        self._add_leased = loaded.query("outbox__add_leased")

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
        self._contract.publication(message_name)
        problems = self._contract.validator(message_name).problems(payload)
        if problems:
            raise PayloadValidationError(message_name=message_name, problems=problems)
        extra = dict(headers or {})
        bad = sorted(n for n in extra if n in hdr.RESERVED or n.lower().startswith("x-"))
        if bad:
            raise InvalidMessageError(
                f"headers {bad} are reserved (svcinfra's own or broker-owned x-*)",
                message_name=message_name,
            )
        try:
            body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
            encoded_headers = json.dumps(extra, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidMessageError(
                f"payload or headers are not JSON: {type(exc).__name__}", message_name=message_name
            ) from exc
        message_id = str(uuid.uuid4())
        dispatcher = self._dispatcher
        if dispatcher is None or not dispatcher.take():
            await tx.exec(
                self._add, message_id, message_name, body, correlation_id, encoded_headers
            )
            return message_id
        created_at = await tx.one(
            self._add_leased,
            message_id,
            message_name,
            body,
            correlation_id,
            encoded_headers,
            dispatcher.lease,
            row=datetime,
        )
        row = Dispatched(
            message_id=message_id,
            message_name=message_name,
            body=body,
            correlation_id=correlation_id,
            headers=extra or None,
            committed_at=created_at.timestamp(),
        )
        tx.after_commit(lambda: dispatcher.dispatch(row))
        return message_id
