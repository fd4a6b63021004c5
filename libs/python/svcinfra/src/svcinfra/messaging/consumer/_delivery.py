"""What a handler receives (`Delivery`), and the checks a message passes before it gets there."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from svcinfra.messaging import headers as hdr
from svcinfra.messaging.contract import MessageName

if TYPE_CHECKING:
    from collections.abc import Coroutine, Mapping
    from contextvars import Context

    from svcinfra.messaging.contract import Contract, MessageSpec

CONTENT_TYPE = "application/json"

T = TypeVar("T")


async def in_context(coro: Coroutine[Any, Any, T], context: Context | None) -> T:
    """Await `coro` (a handler's or a record's), in the message's `context` when it is traced.

    The message's span then stays the parent of the spans `coro` starts, although it runs in a
    group's task; with `context` None (not sampled) it runs here, with no task to pay for.
    """
    if context is None:
        return await coro
    return await asyncio.get_running_loop().create_task(coro, context=context)


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message as its handler sees it: decoded, validated, with its metadata.

    Attributes:
        name: the contract's versioned name (`user.registered.v1`).
        version: its version (1).
        payload: the decoded JSON payload, valid against the message's schema.
        message_id: the id the producer gave it (MQ-6); the inbox key.
        correlation_id: the chain it belongs to, if any.
        attempt: 1 on the first delivery, `retry-count` + 1 after retries (a deferral, a
            call refused before sending, is no attempt: see `classify`).
        headers: the AMQP headers as received (`traceparent`, the producer's own, ...).
        routing_key: the routing key it was first published with.
        exchange: the exchange it was first published to.
        queue: the queue it was consumed from.
        consumer: the consumer's name.
        redelivered: the broker's hint that an earlier delivery may have been processed.
    """

    name: str
    version: int
    payload: Mapping[str, Any] = field(repr=False)
    message_id: str
    correlation_id: str | None
    attempt: int
    headers: Mapping[str, Any] = field(repr=False)
    routing_key: str
    exchange: str
    queue: str
    consumer: str
    redelivered: bool = False

    @property
    def idempotency_key(self) -> str:
        """A key for an external call's idempotency: stable across redeliveries and retries."""
        return f"{self.consumer}:{self.message_id}"


class ErrorClass(StrEnum):
    """How a failure is handled: retried (`transient`) or dead-lettered at once (`permanent`)."""

    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a message was not processed: the `error-*` headers it carries to a retry tier or DLQ.

    Attributes:
        error_class: transient (retried) or permanent (DLQ at once).
        error_type: `invalid-json`, `schema-violation`, `unknown-type`, `unknown-version`,
            `wrong-content-type`, `oversized`, `missing-message-id`, `attempts-exhausted`, or
            the class name of what the handler raised.
        message: what went wrong, without payload values (truncated when written).
        refused_by: for a transient failure that was no attempt (a dependency refused the
            handler's call before sending it: `not_attempted`), the refusing error's class
            name (`CircuitOpenError`); None for a failure that counts as an attempt.
        retry_after: with `refused_by`, the seconds the refusal asked to wait.
    """

    error_class: ErrorClass
    error_type: str
    message: str
    refused_by: str | None = None
    retry_after: float = 0.0

    @property
    def not_attempted(self) -> bool:
        """Whether the handler's call was refused before sending: deferred, not counted."""
        return self.refused_by is not None


def _permanent(error_type: str, message: str) -> Failure:
    return Failure(ErrorClass.PERMANENT, error_type, message)


@dataclass(frozen=True, slots=True)
class Envelope:
    """The parts of an AMQP message the checks read (decoupled from the driver's class)."""

    body: bytes
    content_type: str | None
    content_encoding: str | None
    message_type: str | None
    message_id: str | None
    headers: Mapping[str, Any]


def decode(  # noqa: PLR0911  (one return per check)
    envelope: Envelope,
    messages: Mapping[str, MessageSpec],
    contract: Contract,
    *,
    max_body_bytes: int,
) -> tuple[MessageSpec, Any] | Failure:
    """Check a message against what its queue may carry; return its spec and payload.

    The order matters: cheap checks that need no parsing come first, and nothing is parsed
    before its size is known to be bounded. Every failure here is permanent (MQ-9): the same
    bytes would fail the same way on every retry.
    """
    if not envelope.message_id:
        return _permanent("missing-message-id", "no message_id: it cannot be deduplicated (MQ-6)")
    if len(envelope.body) > max_body_bytes:
        return _permanent(
            "oversized", f"body of {len(envelope.body)} bytes exceeds {max_body_bytes}"
        )
    if envelope.content_type != CONTENT_TYPE or envelope.content_encoding:
        return _permanent(
            "wrong-content-type",
            f"content type {envelope.content_type!r}, encoding {envelope.content_encoding!r};"
            f" expected {CONTENT_TYPE!r} without encoding",
        )
    spec = messages.get(envelope.message_type or "")
    if spec is None:
        return _unknown(envelope.message_type, messages)
    version = envelope.headers.get(hdr.MESSAGE_VERSION)
    if version is not None and version != spec.version:
        return _permanent(
            "unknown-version",
            f"{hdr.MESSAGE_VERSION} header {version!r} contradicts type {spec.name!r}",
        )
    try:
        payload = json.loads(envelope.body)
    except json.JSONDecodeError as exc:
        return _permanent(
            "invalid-json", f"body is not JSON (line {exc.lineno}, column {exc.colno})"
        )
    except ValueError:  # not UTF-8
        return _permanent("invalid-json", "body is not UTF-8 JSON")
    except RecursionError:  # `[[[[...` within the size limit: the parser's stack runs out
        return _permanent("invalid-json", "body nests deeper than the JSON parser allows")
    problems = contract.validator(spec.name).problems(payload)
    if problems:
        # Paths only: a validator's message quotes the offending value (personal data).
        paths = ", ".join(sorted({problem.path for problem in problems}))
        return _permanent("schema-violation", f"payload violates {spec.name} at {paths}")
    return spec, payload


def _unknown(message_type: str | None, messages: Mapping[str, MessageSpec]) -> Failure:
    if not message_type:
        return _permanent("unknown-type", "no AMQP type: the message names no contract message")
    try:
        name = MessageName.parse(message_type)
    except ValueError:
        return _permanent("unknown-type", f"type {message_type[:100]!r} is no versioned name")
    versions = sorted(spec.version for spec in messages.values() if spec.base == name.base)
    if versions:
        return _permanent(
            "unknown-version",
            f"{name.base} v{name.version} is not consumed here (versions: {versions})",
        )
    return _permanent("unknown-type", f"type {message_type!r} is not consumed from this queue")
