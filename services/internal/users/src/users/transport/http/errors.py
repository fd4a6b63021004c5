"""The error boundary: domain errors become status codes here, and only here.

validation 422 (naming the field; a body that is not JSON in UTF-8 is the field `body`), not
found 404, conflict 409 (naming the unique field), temporarily unavailable 503 with
Retry-After; routing errors keep their status. Anything else is a bug: `RequestTelemetry`
answers 500 with a fixed body and logs it once, with the trace id. The routes declare each of
these statuses in the OpenAPI document (users/transport/http/routes.py), and schemathesis holds
the server to it.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import TYPE_CHECKING, cast

from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from svcinfra.observability import get_logger
from users.domain.errors import Conflict, InvalidField, NotFound, Unavailable
from users.transport.http.dto import ErrorBody, ErrorDetail, FieldProblem

if TYPE_CHECKING:
    from fastapi import FastAPI, Request

_log = get_logger("users.transport.http")


def error_response(
    status: int,
    code: str,
    message: str,
    fields: list[FieldProblem] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """The uniform error body with `status`."""
    body = ErrorBody(error=ErrorDetail(code=code, message=message, fields=fields or []))
    return JSONResponse(jsonable_encoder(body), status_code=status, headers=headers)


async def _invalid_field(_: Request, exc: Exception) -> JSONResponse:
    exc = cast("InvalidField", exc)  # registered for this type only
    problem = FieldProblem(field=exc.field, reason=exc.reason)
    return error_response(422, "validation_failed", f"invalid {exc.field}", [problem])


async def _request_invalid(_: Request, exc: Exception) -> JSONResponse:
    exc = cast("RequestValidationError", exc)  # registered for this type only
    errors = exc.errors()
    if errors and all(error.get("type") == "json_invalid" for error in errors):
        # FastAPI reports JSON it cannot parse as a validation error at ("body", <offset>).
        first = errors[0]
        reason = f"{first.get('ctx', {}).get('error', 'not JSON')} at offset {first['loc'][-1]}"
        return _malformed_body(reason)
    problems = [
        FieldProblem(field=_field_of(error.get("loc", ())), reason=str(error.get("msg", "")))
        for error in errors
    ]
    names = ", ".join(dict.fromkeys(p.field for p in problems))
    return error_response(422, "validation_failed", f"invalid {names}", problems)


def _field_of(loc: object) -> str:
    """`("body", "username")` -> `username`; `("query", "limit")` -> `limit`."""
    parts = [str(part) for part in loc] if isinstance(loc, list | tuple) else [str(loc)]
    if len(parts) > 1 and parts[0] in {"body", "query", "path", "header"}:
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    return error_response(404, "not_found", str(exc))


async def _conflict(_: Request, exc: Exception) -> JSONResponse:
    exc = cast("Conflict", exc)  # registered for this type only
    problem = FieldProblem(field=exc.field, reason="already taken")
    return error_response(409, "conflict", f"{exc.field} is already taken", [problem])


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    exc = cast("Unavailable", exc)  # registered for this type only
    # A degraded answer is logged where it is decided, once, as a warning: the client retries.
    _log.warning(
        "request degraded",
        degraded=True,
        component="postgres",
        reason=str(exc),
        route=_route_of(request),
    )
    return error_response(
        503,
        "temporarily_unavailable",
        "the service is temporarily unavailable; retry later",
        headers={"Retry-After": str(exc.retry_after)},
    )


def _malformed_body(reason: str) -> JSONResponse:
    problem = FieldProblem(field="body", reason=reason)
    return error_response(422, "validation_failed", "invalid body: not JSON in UTF-8", [problem])


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    exc = cast("HTTPException", exc)  # registered for this type only
    if exc.status_code == HTTPStatus.BAD_REQUEST:
        # FastAPI's only 400: a body it could not read as JSON (not UTF-8, for one). It is a
        # body that breaks its rule, like JSON it can read but not parse: 422, naming `body`.
        return _malformed_body(str(exc.detail))
    code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_").replace("-", "_")
    headers = dict(exc.headers) if exc.headers else None
    return error_response(exc.status_code, code, str(exc.detail), headers=headers)


def _route_of(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", request.url.path))


def install_error_handlers(app: FastAPI) -> None:
    """Map the domain's errors, and request and routing errors, to responses."""
    app.add_exception_handler(InvalidField, _invalid_field)
    app.add_exception_handler(RequestValidationError, _request_invalid)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(Unavailable, _unavailable)
    app.add_exception_handler(HTTPException, _http_error)
