"""The record of what fake-mail "sent", and the results stored under idempotency keys.

A key's result is kept for `key_ttl` seconds from the acceptance, as a real provider keeps it
(Stripe: 24 h); after that the key is forgotten and the same request sends a new message.

Everything here is in memory: a restart forgets the record and every key. With a `journal`
file, each accepted message is also appended to it as a JSON line and kept across restarts,
as the recipients' inboxes keep what a provider sent before it restarted.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import os
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

DEFAULT_KEY_TTL: Final = 86_400.0


@dataclass(frozen=True, slots=True)
class SendRequest:
    """One message a client asks to send."""

    to: str
    subject: str
    text: str
    tags: dict[str, str] = field(default_factory=dict)

    def fingerprint(self) -> str:
        """Return a digest of the content: a key replayed with another content is refused."""
        canonical = json.dumps(
            {"to": self.to, "subject": self.subject, "text": self.text, "tags": self.tags},
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Message:
    """A message fake-mail accepted: what the record shows."""

    id: str
    to: str
    subject: str
    text: str
    tags: dict[str, str]
    idempotency_key: str
    accepted_at: datetime


@dataclass(frozen=True, slots=True)
class _Stored:
    fingerprint: str
    message: Message
    expires: float


class Mailbox:
    """Accepted messages in acceptance order, and one stored result per idempotency key.

    A stored result lives `key_ttl` seconds (measured on `clock`, monotonic by default); an
    expired one is as if never stored.
    """

    def __init__(
        self,
        key_ttl: float = DEFAULT_KEY_TTL,
        clock: Callable[[], float] = time.monotonic,
        *,
        journal: Path | None = None,
    ) -> None:
        """Create an empty mailbox whose idempotency results expire after `key_ttl` seconds.

        `journal`: a file each accepted message is appended to (created if missing, kept).
        """
        if key_ttl <= 0:
            raise ValueError("key_ttl must be positive")
        self._journal = journal
        self._key_ttl = key_ttl
        self._clock = clock
        self._messages: list[Message] = []
        self._results: dict[str, _Stored] = {}
        # (expiry, key) in acceptance order, which is expiry order (one TTL for all): pruning
        # looks at the expired ones only, so an acceptance costs the same however many keys
        # are kept (24 h of them by default). A pair whose result was dropped or replaced since
        # is stale: its key's current result has another expiry.
        self._expiries: collections.deque[tuple[float, str]] = collections.deque()
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, key: str) -> asyncio.Lock:
        """Return the lock of `key`, created on first use (released ones are dropped)."""
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def release(self, key: str, lock: asyncio.Lock) -> None:
        """Forget the lock of `key` once nobody holds it, so that keys do not pile up."""
        if self._locks.get(key) is lock and not lock.locked():
            del self._locks[key]

    def stored(self, key: str, request: SendRequest) -> tuple[Message | None, bool]:
        """Return the message stored under `key` (or None) and whether `request` matches it.

        A result older than the key's lifetime is dropped and reads as None.
        """
        stored = self._results.get(key)
        if stored is not None and self._clock() >= stored.expires:
            del self._results[key]
            stored = None
        if stored is None:
            return None, True
        return stored.message, stored.fingerprint == request.fingerprint()

    def accept(self, key: str, request: SendRequest) -> Message:
        """Record a new message and store it as the result of `key`."""
        message = Message(
            id=str(uuid.uuid4()),
            to=request.to,
            subject=request.subject,
            text=request.text,
            tags=dict(request.tags),
            idempotency_key=key,
            accepted_at=datetime.now(UTC),
        )
        self._write_journal(message)
        self._messages.append(message)
        self._prune()
        expires = self._clock() + self._key_ttl
        self._results[key] = _Stored(request.fingerprint(), message, expires)
        self._expiries.append((expires, key))
        return message

    def _write_journal(self, message: Message) -> None:
        """Append `message` to the journal as one JSON line (one `write` on an O_APPEND file)."""
        if self._journal is None:
            return
        line = json.dumps(
            {
                "id": message.id,
                "to": message.to,
                "idempotency_key": message.idempotency_key,
                "accepted_at": message.accepted_at.isoformat(),
            },
            ensure_ascii=False,
        )
        fd = os.open(self._journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    def _prune(self) -> None:
        """Drop the expired results, oldest first, stopping at the first one still alive."""
        now = self._clock()
        expiries = self._expiries
        while expiries and expiries[0][0] <= now:
            expires, key = expiries.popleft()
            stored = self._results.get(key)
            if stored is not None and stored.expires == expires:
                del self._results[key]

    def messages(self, to: str | None = None) -> list[Message]:
        """Return the accepted messages in acceptance order, only those to `to` if given."""
        if to is None:
            return list(self._messages)
        return [m for m in self._messages if m.to.lower() == to.lower()]

    def clear(self) -> None:
        """Forget every message and every stored idempotency result."""
        self._messages.clear()
        self._results.clear()
        self._expiries.clear()
