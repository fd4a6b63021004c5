"""Adapters for external APIs: one `ApiClient` subclass per API (EX-1 .. EX-5).

    class MailApiSettings(HttpClientSettings):
        env_section = "MAIL_API_"
        api_key: SecretStr

    class MailApi(ApiClient):
        name = "mail-api"
        idempotency_header = "Idempotency-Key"

        async def send(self, mail: dict[str, str], *, key: str) -> str:
            data = await self.request_json("POST", "/v1/messages", json=mail, idempotency_key=key)
            return str(data["id"])

A call has explicit timeouts and a total deadline (EX-2), is retried with full-jitter backoff
and `Retry-After` only when that is safe, under a rate limiter and a circuit breaker (EX-3),
fails with a `TemporaryError` or a `PermanentError` (EX-4), and logs one line without
credentials, query or body (EX-5).
"""

from ._breaker import CircuitState
from ._client import ApiClient
from ._errors import (
    AdapterDefinitionError,
    AdapterUsageError,
    CircuitOpenError,
    DeadlineExceededError,
    ExternalApiError,
    InvalidRequestError,
    MalformedResponseError,
    NotFoundError,
    PermanentError,
    RateLimitedError,
    TemporaryError,
    UnauthorizedError,
)
from ._settings import HttpClientSettings, Seconds

__all__ = [
    "AdapterDefinitionError",
    "AdapterUsageError",
    "ApiClient",
    "CircuitOpenError",
    "CircuitState",
    "DeadlineExceededError",
    "ExternalApiError",
    "HttpClientSettings",
    "InvalidRequestError",
    "MalformedResponseError",
    "NotFoundError",
    "PermanentError",
    "RateLimitedError",
    "Seconds",
    "TemporaryError",
    "UnauthorizedError",
]
