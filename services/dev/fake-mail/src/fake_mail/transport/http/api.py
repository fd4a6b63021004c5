"""The FastAPI application: POST/GET/DELETE /v1/messages and GET/PUT/DELETE /v1/faults."""

from __future__ import annotations

import hmac
import json
import re
from typing import TYPE_CHECKING, Final

from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from fake_mail import metrics
from fake_mail.domain import (
    Accepted,
    AddressRejected,
    Faults,
    InFlight,
    KeyReused,
    Outcome,
    Replayed,
    SendRequest,
    Unavailable,
)
from svcinfra.observability import get_logger

from .drop import DROP, DropConnectionMiddleware
from .schemas import FaultsIn, MessageIn, accepted_body, describe, record_entry

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from fake_mail.domain import MailService, SendResult

IDEMPOTENCY_KEY: Final = re.compile(r"^[\x20-\x7e]{1,255}$")
_log = get_logger("fake_mail.api")


class ApiError(Exception):
    """An error answered as `{"error": ..., "detail": ...}` with a status and headers."""

    def __init__(
        self,
        status: int,
        error: str,
        detail: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        """Render the error."""
        body: dict[str, str] = {"error": self.error}
        if self.detail is not None:
            body["detail"] = self.detail
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def build_api(service: MailService, *, api_key: str) -> ASGIApp:
    """Build the API around `service`; every route needs `Authorization: Bearer <api_key>`."""
    expected = f"Bearer {api_key}".encode()

    def authorized(request: Request) -> None:
        presented = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(presented, expected):
            raise ApiError(401, "unauthorized")

    app = FastAPI(
        title="fake-mail",
        summary="Dev-only double of the external mail API (CI-6).",
        dependencies=[Depends(authorized)],
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # FastAPI's native OpenTelemetry (on by default once a tracer provider is set, as
        # svcinfra.app sets one): the request's SERVER span only. Its metrics and logs stay off:
        # /metrics is Prometheus on the tech port, and its logs would quote request bodies.
        telemetry={"tracing": True, "metrics": False, "logs": False, "operation_spans": False},
    )

    async def api_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)  # noqa: S101  (registered for ApiError only)
        return exc.response()

    app.add_exception_handler(ApiError, api_error)

    @app.post("/v1/messages")
    async def send(request: Request) -> Response:
        key = _idempotency_key(request)
        message = _message(await request.body())
        result = await service.send(key, message)
        return _respond(request, result, service.faults)

    @app.get("/v1/messages")
    async def record(to: str | None = None) -> dict[str, object]:
        return {"messages": [record_entry(m) for m in service.messages(to)]}

    @app.delete("/v1/messages", status_code=204)
    async def clear() -> Response:
        service.clear()
        _log.info("record cleared")
        return Response(status_code=204)

    @app.get("/v1/faults")
    async def faults() -> dict[str, object]:
        return service.faults.as_dict()

    @app.put("/v1/faults")
    async def replace_faults(request: Request) -> dict[str, object]:
        settings = _faults(await request.body())
        service.replace_faults(settings)
        _log.info("faults replaced", faults=settings.as_dict())
        return settings.as_dict()

    @app.delete("/v1/faults")
    async def reset_faults() -> dict[str, object]:
        service.replace_faults(Faults())
        _log.info("faults reset")
        return service.faults.as_dict()

    return DropConnectionMiddleware(app)


def _idempotency_key(request: Request) -> str:
    key = request.headers.get("idempotency-key")
    if key is None:
        raise ApiError(400, "invalid_request", "Idempotency-Key: header required")
    if not IDEMPOTENCY_KEY.match(key):
        raise ApiError(400, "invalid_request", "Idempotency-Key: 1..255 printable ASCII characters")
    return key


def _json(body: bytes) -> object:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ApiError(400, "invalid_request", f"body: malformed JSON ({exc})") from None


def _message(body: bytes) -> SendRequest:
    try:
        parsed = MessageIn.model_validate(_json(body))
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", describe(exc)) from None
    return SendRequest(to=parsed.to, subject=parsed.subject, text=parsed.text, tags=parsed.tags)


def _faults(body: bytes) -> Faults:
    try:
        return FaultsIn.model_validate(_json(body)).to_domain()
    except ValidationError as exc:
        raise ApiError(400, "invalid_request", describe(exc)) from None
    except ValueError as exc:
        raise ApiError(400, "invalid_request", str(exc)) from None


def _respond(request: Request, result: SendResult, faults: Faults) -> Response:
    if faults.latency_ms and not isinstance(result, InFlight):
        metrics.FAULTS.labels(kind="latency").inc()
    match result:
        case Accepted(message, drop):
            metrics.ACCEPTED.inc()
            _log.info("message accepted", message_id=message.id, dropped=drop)
            return _maybe_drop(request, drop, JSONResponse(accepted_body(message), 202))
        case Replayed(message, drop):
            metrics.REPLAYED.inc()
            _log.info("request replayed", message_id=message.id, dropped=drop)
            replay = JSONResponse(accepted_body(message), 200, {"Idempotent-Replayed": "true"})
            return _maybe_drop(request, drop, replay)
        case InFlight(retry_after):
            headers = {"Retry-After": str(retry_after)}
            raise ApiError(409, "idempotency_key_in_use", headers=headers)
        case KeyReused(detail):
            raise ApiError(409, "idempotency_key_reused", detail)
        case AddressRejected(reason):
            metrics.REJECTED.inc()
            raise ApiError(422, "address_rejected", reason)
        case Unavailable(decision) if decision.outcome is Outcome.RATE_LIMIT:
            metrics.FAULTS.labels(kind="rate_limit").inc()
            headers = {"Retry-After": str(decision.retry_after)}
            raise ApiError(429, "rate_limited", headers=headers)
        case Unavailable(decision):
            metrics.FAULTS.labels(kind="error").inc()
            headers = (
                {} if decision.retry_after is None else {"Retry-After": str(decision.retry_after)}
            )
            raise ApiError(decision.status or 503, "unavailable", headers=headers)


def _maybe_drop(request: Request, drop: bool, response: Response) -> Response:  # noqa: FBT001
    if drop:
        metrics.FAULTS.labels(kind="crash_after_accept").inc()
        setattr(request.state, DROP, True)
    return response
