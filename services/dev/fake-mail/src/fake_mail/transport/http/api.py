"""The FastAPI application: POST/GET/DELETE /v1/messages and GET/PUT/DELETE /v1/faults.

The handlers read and check the bodies themselves (strict, 400 `invalid_request` naming the
field); the routes' OpenAPI metadata states the same rules and every status each one answers,
and `openapi_yaml` renders the document committed as fake_mail/api/server/api.yaml.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import TYPE_CHECKING, Any, Final

import yaml
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBearer
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from fake_mail import metrics
from fake_mail.domain import (
    Accepted,
    AddressRejected,
    FaultInjector,
    Faults,
    InFlight,
    KeyReused,
    Mailbox,
    MailService,
    Outcome,
    Replayed,
    SendRequest,
    Unavailable,
)
from svcinfra.observability import get_logger

from .drop import DROP, DropConnectionMiddleware
from .schemas import (
    IDEMPOTENCY_HEADER_PATTERN,
    AcceptedOut,
    ErrorOut,
    FaultsIn,
    MessageIn,
    RecordOut,
    accepted_body,
    describe,
    record_entry,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from fake_mail.domain import SendResult

IDEMPOTENCY_KEY: Final = re.compile(IDEMPOTENCY_HEADER_PATTERN)
_log = get_logger("fake_mail.api")
# Declares the bearer scheme in the document; `authorized` compares the key (auto_error off: it
# never answers by itself).
_BEARER: Final = HTTPBearer(auto_error=False, description="`Bearer <FAKE_MAIL_API_KEY>`")
_COMPONENTS: Final = "#/components/schemas/{model}"


def _body(model: type[BaseModel]) -> dict[str, Any]:
    ref = {"$ref": _COMPONENTS.format(model=model.__name__)}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


Responses = dict[int | str, dict[str, Any]]


def _answer(
    description: str, model: type[BaseModel] = ErrorOut, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "model": model}
    if headers:
        answer["headers"] = {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in headers.items()
        }
    return answer


def _ok(description: str, model: type[BaseModel]) -> Responses:
    return {200: _answer(description, model)}


# OpenAPI links: where a client (and schemathesis's stateful phase) goes next with an answer.
_RECORD_OF_RECIPIENT = {
    "links": {
        "RecordOfRecipient": {
            "operationId": "record",
            "parameters": {"to": "$response.body#/to"},
            "description": "The record of messages to the accepted message's recipient.",
        }
    }
}
_FAULTS_IN_FORCE = {
    "links": {"FaultsInForce": {"operationId": "faults", "description": "The settings in force."}}
}
_RETRY_AFTER = "seconds to wait before retrying"
_UNAUTHORIZED: Responses = {401: _answer("No or wrong `Authorization: Bearer <key>`.")}
_INVALID: Responses = {400: _answer("Malformed JSON, or a field or header that breaks its rule.")}
_SEND_ANSWERS: Responses = (
    {
        202: _answer("Accepted and recorded.", AcceptedOut) | _RECORD_OF_RECIPIENT,
        200: _answer(
            "The same key and body again: the first answer, nothing recorded twice.",
            AcceptedOut,
            headers={"Idempotent-Replayed": "`true`"},
        )
        | _RECORD_OF_RECIPIENT,
        409: _answer(
            "The key is in flight (`idempotency_key_in_use`, with Retry-After) or was used for "
            "another body (`idempotency_key_reused`).",
            headers={"Retry-After": _RETRY_AFTER},
        ),
        422: _answer("The address or its domain is on the reject list (`address_rejected`)."),
        429: _answer(
            "Over the rate limit (`rate_limit_per_second`), or an injected one.",
            headers={"Retry-After": _RETRY_AFTER},
        ),
        500: _answer(
            "An injected server error (`error_status`, or a scripted step).",
            headers={"Retry-After": _RETRY_AFTER},
        ),
        502: _answer("An injected server error.", headers={"Retry-After": _RETRY_AFTER}),
        503: _answer("An injected server error.", headers={"Retry-After": _RETRY_AFTER}),
    }
    | _INVALID
    | _UNAUTHORIZED
)
_PUT_FAULTS_ANSWERS: Responses = {
    **_INVALID,
    200: _answer("The settings now in force.", FaultsIn) | _FAULTS_IN_FORCE,
}
_IDEMPOTENCY_KEY_PARAMETER = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": True,
    "description": "1..255 printable ASCII characters, not starting or ending with a space.",
    "schema": {"type": "string", "pattern": IDEMPOTENCY_HEADER_PATTERN},
}


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
    return DropConnectionMiddleware(_routes(service, api_key=api_key))


def _routes(service: MailService, *, api_key: str) -> FastAPI:
    expected = f"Bearer {api_key}".encode()

    async def authorized(request: Request) -> None:
        presented = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(presented, expected):
            raise ApiError(401, "unauthorized")

    app = FastAPI(
        title="fake-mail",
        version="1.0.0",
        summary="Dev-only double of the external mail API (CI-6).",
        description="Every route needs `Authorization: Bearer <FAKE_MAIL_API_KEY>`; errors are "
        "`{error, detail}`. See services/dev/fake-mail/README.md.",
        dependencies=[Depends(_BEARER), Depends(authorized)],
        generate_unique_id_function=lambda route: route.name,  # operationId = handler name
        responses=_UNAUTHORIZED,
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

    @app.post(
        "/v1/messages",
        status_code=202,
        response_model=None,
        responses=_SEND_ANSWERS,
        openapi_extra=_body(MessageIn) | {"parameters": [_IDEMPOTENCY_KEY_PARAMETER]},
        summary="Send a message",
    )
    async def send(request: Request) -> Response:
        key = _idempotency_key(request)
        message = _message(await request.body())
        delayed = service.faults.latency_ms > 0  # the faults may be replaced while it waits
        result = await service.send(key, message)
        return _respond(request, result, delayed=delayed)

    @app.get(
        "/v1/messages",
        response_model=None,
        responses=_ok("The messages, in acceptance order.", RecordOut),
        summary="The record of what was sent",
    )
    async def record(to: str | None = None) -> dict[str, object]:
        return {"messages": [record_entry(m) for m in service.messages(to)]}

    @app.delete(
        "/v1/messages",
        status_code=204,
        response_description="Forgotten, with every stored idempotency result.",
        summary="Forget the record",
    )
    async def clear() -> Response:
        service.clear()
        _log.info("record cleared")
        return Response(status_code=204)

    @app.get(
        "/v1/faults",
        response_model=None,
        responses=_ok("The settings in force.", FaultsIn),
        summary="The faults in force",
    )
    async def faults() -> dict[str, object]:
        return service.faults.as_dict()

    @app.put(
        "/v1/faults",
        response_model=None,
        responses=_PUT_FAULTS_ANSWERS,
        openapi_extra=_body(FaultsIn),
        summary="Replace every fault setting",
    )
    async def replace_faults(request: Request) -> dict[str, object]:
        settings = _faults(await request.body())
        service.replace_faults(settings)
        _log.info("faults replaced", faults=settings.as_dict())
        return settings.as_dict()

    @app.delete(
        "/v1/faults",
        response_model=None,
        responses=_ok("No fault at all, now in force.", FaultsIn),
        summary="Reset to no fault",
    )
    async def reset_faults() -> dict[str, object]:
        service.replace_faults(Faults())
        _log.info("faults reset")
        return service.faults.as_dict()

    return app


def openapi_yaml() -> str:
    """The API's OpenAPI document as YAML: what fake_mail/api/server/api.yaml must hold."""
    service = MailService(Mailbox(), FaultInjector())  # the routes only: nothing is called
    document = _routes(service, api_key="").openapi()
    _, defs = models_json_schema(
        [(MessageIn, "validation"), (FaultsIn, "validation")], ref_template=_COMPONENTS
    )
    document["components"]["schemas"].update(defs["$defs"])
    document["components"]["schemas"] = dict(sorted(document["components"]["schemas"].items()))
    for operations in document["paths"].values():
        for operation in operations.values():
            operation["responses"] = dict(sorted(operation["responses"].items()))
    header = (
        "# Generated by `fake-mail openapi` from the FastAPI routes (fake_mail/transport/http/);\n"
        "# a test fails when this file and the code drift apart. Do not edit by hand.\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


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


def _respond(request: Request, result: SendResult, *, delayed: bool) -> Response:
    if delayed and not isinstance(result, InFlight):
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
