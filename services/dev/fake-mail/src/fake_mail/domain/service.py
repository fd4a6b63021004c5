"""`MailService`: one POST /v1/messages from idempotency key to outcome, HTTP aside."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from .faults import Decision, FaultInjector, Faults, Outcome

if TYPE_CHECKING:
    from .mailbox import Mailbox, Message, SendRequest

IN_FLIGHT_RETRY_AFTER: Final = 1


@dataclass(frozen=True, slots=True)
class Accepted:
    """A new message was recorded; `drop_connection`: the response is lost (crash fault)."""

    message: Message
    drop_connection: bool = False


@dataclass(frozen=True, slots=True)
class Replayed:
    """The key was used before with the same content: the stored result, nothing recorded."""

    message: Message
    drop_connection: bool = False


@dataclass(frozen=True, slots=True)
class InFlight:
    """Another request with the same key is being processed."""

    retry_after: int = IN_FLIGHT_RETRY_AFTER


@dataclass(frozen=True, slots=True)
class KeyReused:
    """The key was used before with another content."""

    detail: str


@dataclass(frozen=True, slots=True)
class AddressRejected:
    """The recipient is on the reject list."""

    reason: str


@dataclass(frozen=True, slots=True)
class Unavailable:
    """An injected 429 or 5xx: nothing was recorded."""

    decision: Decision


SendResult = Accepted | Replayed | InFlight | KeyReused | AddressRejected | Unavailable


class MailService:
    """Sends (records) messages, honouring idempotency keys and injecting faults.

    Faults come first, as in front of a real API: latency, then a scripted step or a ratio
    drawn for 429 / 5xx; an injected error records nothing, so the client's retry with the same
    key may succeed. A crash after accept records the message (and its key's result) and asks
    for the connection to be dropped, so the retry gets the stored result back.
    """

    def __init__(self, mailbox: Mailbox, injector: FaultInjector) -> None:
        self._mailbox = mailbox
        self._injector = injector

    @property
    def faults(self) -> Faults:
        """The fault settings in force."""
        return self._injector.faults

    def replace_faults(self, faults: Faults) -> None:
        """Install new fault settings (script and random draws restart)."""
        self._injector.replace(faults)

    def messages(self, to: str | None = None) -> list[Message]:
        """Return the record, in acceptance order."""
        return self._mailbox.messages(to)

    def clear(self) -> None:
        """Forget the record and every idempotency result."""
        self._mailbox.clear()

    async def send(self, key: str, request: SendRequest) -> SendResult:
        """Process one send under its idempotency key; concurrent uses of a key get `InFlight`."""
        lock = self._mailbox.lock(key)
        if lock.locked():
            return InFlight()
        try:
            async with lock:
                return await self._send(key, request)
        finally:
            self._mailbox.release(key, lock)

    async def _send(self, key: str, request: SendRequest) -> SendResult:
        latency = self._injector.faults.latency_ms
        if latency:
            await asyncio.sleep(latency / 1000)
        decision = self._injector.draw()
        if decision.outcome in {Outcome.RATE_LIMIT, Outcome.ERROR}:
            return Unavailable(decision)
        scripted_crash = decision.outcome is Outcome.CRASH_AFTER_ACCEPT
        stored, same = self._mailbox.stored(key, request)
        if stored is not None:
            if not same:
                return KeyReused(
                    f"idempotency key {key!r} was used for a different request "
                    f"(message {stored.id}); use a new key for a new message"
                )
            return Replayed(stored, drop_connection=scripted_crash)
        reason = self._injector.rejects(request.to)
        if reason is not None:
            return AddressRejected(reason)
        message = self._mailbox.accept(key, request)
        drop = scripted_crash or self._injector.crash_after_accept()
        return Accepted(message, drop_connection=drop)
