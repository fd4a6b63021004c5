"""`Outbox.add`: an event written in the caller's transaction, checked against the contract."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

from svcinfra.messaging import headers as hdr
from svcinfra.messaging._errors import InvalidMessageError, PayloadValidationError
from svcinfra.messaging.storage import queries

if TYPE_CHECKING:
    from collections.abc import Mapping

    from svcinfra.messaging.contract import Contract
    from svcinfra.postgres import Transaction

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
    """

    __slots__ = ("_add", "_contract")

    def __init__(self, contract: Contract) -> None:
        self._contract = contract
        self._add = queries().query("outbox__add")

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

        The relay is woken when `tx` commits (NOTIFY is transactional); nothing is sent if it
        rolls back.

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
        await tx.exec(self._add, message_id, message_name, body, correlation_id, encoded_headers)
        return message_id
