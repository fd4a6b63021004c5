"""`MailApi` (the HTTP adapter) and `MailApiMailer` (the domain's `Mailer` on top of it).

The API: `POST /v1/messages` with `Authorization: Bearer <key>` and a required
`Idempotency-Key`; 202 with `{"id", "to", "accepted_at"}` the first time, 200 with the same
body for a replay of the same key and body. Its errors, by code, and what they mean here (EX-4):

| answer                               | here                                         |
|--------------------------------------|----------------------------------------------|
| 429 rate_limited, 500/502/503        | temporary (retried in the call, then tiers)  |
| connection lost, timeout             | temporary (the replay of the key answers)    |
| 409 idempotency_key_in_use           | temporary (the first request is in flight)   |
| 422 address_rejected                 | permanent: `AddressRejectedError`, to the DLQ     |
| 400, 401, 409 idempotency_key_reused | permanent: `MailRequestRefusedError`, to the DLQ  |
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ClassVar

from notifications.domain.entity import AcceptedMail
from notifications.domain.errors import (
    AddressRejectedError,
    MailRequestRefusedError,
    MailUnavailableError,
)
from svcinfra.httpclient import ApiClient, PermanentError, TemporaryError

if TYPE_CHECKING:
    import httpx

    from notifications.domain.entity import WelcomeMail

_ROUTE = "/v1/messages"
_CONFLICT = 409
_UNPROCESSABLE = 422
_IN_FLIGHT = "idempotency_key_in_use"
_ADDRESS_REJECTED = "address_rejected"
_DETAIL_LIMIT = 200
_ADDRESS = re.compile(r"[^\s\"'<>(),;]+@[^\s\"'<>(),;]+")


class MailApi(ApiClient):
    """The mail API's HTTP adapter: timeouts, retries, breaker and logs from `ApiClient`.

    A POST carries the mail's idempotency key, so the base retries it after a lost connection
    or a 5xx within the call's deadline (EX-3); the API answers a repeat with its first answer.
    """

    name = "mail-api"
    idempotency_header = "Idempotency-Key"
    personal_fields: ClassVar[frozenset[str]] = frozenset({"to", "subject", "text"})

    def error_detail(self, response: httpx.Response) -> str | None:
        """Return the API's error code, and its detail without any address in it (EX-5)."""
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or not isinstance(body.get("error"), str):
            return None
        code: str = body["error"][:64]
        detail = body.get("detail")
        if isinstance(detail, str) and detail and code == _ADDRESS_REJECTED:
            return f"{code}: {_safe_detail(detail)}"
        return code

    async def send_message(self, mail: WelcomeMail) -> httpx.Response:
        """POST `mail` with its idempotency key; return the 2xx response.

        Raises:
            TemporaryError: retrying later may succeed.
            PermanentError: retrying cannot succeed.
        """
        return await self.request(
            "POST",
            _ROUTE,
            json={
                "to": mail.to,
                "subject": mail.subject,
                "text": mail.text,
                "tags": dict(mail.tags),
            },
            idempotency_key=mail.idempotency_key,
        )


class MailApiMailer:
    """The domain's `Mailer` port over the mail API: maps its answers to domain terms (EX-4)."""

    def __init__(self, api: MailApi) -> None:
        """Create the mailer over an open `MailApi` (its owner closes it)."""
        self._api = api

    async def send(self, mail: WelcomeMail) -> AcceptedMail:
        """Send `mail`, or get the first answer back when its key was sent before.

        Raises:
            MailUnavailableError: an outage, a rate limit, a timeout, or the same key in flight.
            AddressRejectedError: the API refused the recipient address.
            MailRequestRefusedError: the API refused the request (credentials, key reuse, body).
        """
        try:
            response = await self._api.send_message(mail)
        except TemporaryError as exc:
            raise MailUnavailableError(f"mail API unavailable: {exc}") from exc
        except PermanentError as exc:
            raise _permanent(exc) from exc
        return _accepted(response)


def _permanent(exc: PermanentError) -> Exception:
    code = (exc.detail or "").split(":", 1)[0]
    if exc.status == _CONFLICT and code == _IN_FLIGHT:
        # Another attempt with this key is still at the API (a redelivery racing a slow call):
        # its outcome will be replayed to a later attempt.
        return MailUnavailableError(f"mail API: {_IN_FLIGHT}: the same email is in flight")
    if exc.status == _UNPROCESSABLE and code == _ADDRESS_REJECTED:
        return AddressRejectedError(f"mail API rejected the address: {exc.detail}")
    return MailRequestRefusedError(f"mail API refused the request: {exc}")


def _accepted(response: httpx.Response) -> AcceptedMail:
    """Read the acceptance from a 2xx answer, checking its shape."""
    try:
        body = response.json()
        provider_id = body["id"]
        accepted_at = datetime.fromisoformat(body["accepted_at"])
    except (ValueError, TypeError, KeyError) as exc:
        raise MailRequestRefusedError(
            f"mail API answered {response.status_code} with a malformed body ({type(exc).__name__})"
        ) from None
    if not isinstance(provider_id, str) or not provider_id or accepted_at.tzinfo is None:
        raise MailRequestRefusedError(
            f"mail API answered {response.status_code} without a message id or a UTC time"
        )
    replayed = response.headers.get("Idempotent-Replayed", "").lower() == "true"
    return AcceptedMail(
        provider_message_id=provider_id, accepted_at=accepted_at.astimezone(UTC), replayed=replayed
    )


def _safe_detail(detail: str) -> str:
    """The API's detail with addresses masked, on one line, bounded."""
    text = _ADDRESS.sub("<address>", " ".join(detail.split()))
    return text if len(text) <= _DETAIL_LIMIT else text[: _DETAIL_LIMIT - 3] + "..."
