"""The /api/v1/users routes: thin handlers from HTTP to the use cases and back."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID  # noqa: TC003  (FastAPI reads the annotations at run time)

from fastapi import APIRouter, Depends, Path, Query, Request, Response, status
from pydantic import BeforeValidator

from users.domain.entity.user import EMAIL_MAX, USERNAME_MAX
from users.domain.service import UsersService
from users.transport.http.dto import (
    EMAIL_REGEX,
    CreateUser,
    ErrorBody,
    UpdateUser,
    UserOut,
    UserPage,
    user_json,
)

PREFIX = "/api/v1/users"
_JSON = "application/json"


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


Responses = dict[int | str, dict[str, Any]]

# Every status the error boundary (users/transport/http/errors.py, middleware.py) can answer,
# declared on the operations that can get it, so the document lists every answer a client sees.
_INVALID: Responses = {
    422: _error(
        "A field or parameter breaks its rule, or the body is not JSON in UTF-8; `fields` "
        "names it (`body` for the latter)."
    )
}
_MISSING: Responses = {404: _error("No such user.")}
_TAKEN: Responses = {409: _error("The email or username is taken; `fields` names which.")}
_DOWN: Responses = {503: _error("The database is unavailable; retry after `Retry-After` seconds.")}
_TOO_LARGE: Responses = {413: _error("The request body is too large (any method).")}
_BUG: Responses = {500: _error("An unexpected error, logged with the trace id (`internal`).")}
# What every operation can get: a bad parameter, an oversized body, the database down, a bug.
_EVERY: Responses = _INVALID | _TOO_LARGE | _DOWN | _BUG


# RFC 3339 date-time, what `format: date-time` means; pydantic alone also takes a bare date or
# a number of seconds (`created_before=0.5`), which the document does not allow.
_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(?:\.\d+)?(?:[Zz]|[+-]\d\d:\d\d)", re.ASCII
)


def _rfc3339(value: object) -> object:
    if isinstance(value, str) and not _RFC3339.fullmatch(value):
        raise ValueError("must be an RFC 3339 date-time with offset, e.g. 2026-01-01T00:00:00Z")
    return value


Rfc3339 = Annotated[datetime, BeforeValidator(_rfc3339)]


async def users_service(request: Request) -> UsersService:  # async: no thread pool hop
    """The use cases the composition root put on the app."""
    service: UsersService = request.app.state.users
    return service


Service = Annotated[UsersService, Depends(users_service)]

router = APIRouter(prefix=PREFIX, tags=["users"], responses=_EVERY)


# First of the routes: the router tries them in order, so the hottest read is matched at once
# (`/{user_id}` cannot shadow the others: an id has no `/`, and other methods only match
# partially). The document keeps its order (`openapi_yaml`).
@router.get("/{user_id}", response_model=UserOut, responses=_MISSING, summary="Get a user")
async def get_user(user_id: UUID, request: Request) -> Response:
    """The user, from the profile cache when it holds it."""
    # The API's hottest read (issue 19): the body is rendered by `user_json` (the bytes FastAPI
    # would produce from the `UserOut` declared above), which the profile cache's near layer
    # keeps with the profile, so a near hit answers with no decoding or validation at all.
    # The service read as in `create_user`: no dependency to solve.
    service: UsersService = request.app.state.users
    body = await service.get_as(user_id, user_json)
    return Response(body, media_type=_JSON)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    responses=_TAKEN,
    summary="Register a user",
)
async def create_user(body: CreateUser, request: Request, response: Response) -> UserOut:
    """Register a user; announces user.registered.v1. `Location` names the new user."""
    # The app's service read here, not through `Service`: a sub-dependency costs FastAPI a
    # second dependency solve on the API's hottest write (the bench's POST row).
    service: UsersService = request.app.state.users
    user = await service.register(
        email=body.email, username=body.username, display_name=body.display_name
    )
    response.headers["Location"] = f"{PREFIX}/{user.id}"
    return UserOut.of(user)


@router.get("", summary="Search users")
async def search_users(  # noqa: PLR0917  (FastAPI passes each query parameter by name)
    service: Service,
    username_prefix: Annotated[
        str | None, Query(min_length=1, max_length=USERNAME_MAX, pattern=r"^[A-Za-z0-9_]+$")
    ] = None,
    email: Annotated[
        str | None, Query(min_length=3, max_length=EMAIL_MAX, pattern=EMAIL_REGEX)
    ] = None,
    created_after: Annotated[
        Rfc3339 | None, Query(description="Inclusive, RFC 3339 with offset.")
    ] = None,
    created_before: Annotated[
        Rfc3339 | None, Query(description="Exclusive, RFC 3339 with offset.")
    ] = None,
    sort: Annotated[
        str, Query(pattern=r"^-?(created_at|username)$", description="Key; `-` descends.")
    ] = "created_at",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[
        str | None,
        Query(
            max_length=512,
            pattern=r"^[A-Za-z0-9_-]+$",
            description="`next_cursor` of the previous page, searched with the same `sort`; "
            "any other value is refused (422 naming `cursor`).",
        ),
    ] = None,
) -> UserPage:
    """Users matching every filter given, one page at a time (keyset pagination)."""
    page = await service.search(
        username_prefix=username_prefix,
        email=email,
        created_after=created_after,
        created_before=created_before,
        sort=sort,
        limit=limit,
        cursor=cursor,
    )
    return UserPage.of(page)


@router.get(
    "/by-username/{username}",
    responses=_MISSING,
    summary="Get a user by username",
)
async def get_user_by_username(
    username: Annotated[str, Path(min_length=1, max_length=64)], service: Service
) -> UserOut:
    """The user with this username (case-insensitive)."""
    return UserOut.of(await service.get_by_username(username))


@router.patch(
    "/{user_id}",
    responses=_MISSING | _TAKEN,
    summary="Change a user",
)
async def update_user(user_id: UUID, body: UpdateUser, service: Service) -> UserOut:
    """Change the fields given; announces user.updated.v1."""
    user = await service.update(
        user_id, email=body.email, username=body.username, display_name=body.display_name
    )
    return UserOut.of(user)


@router.delete(
    "/{user_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=_MISSING,
    summary="Delete a user",
)
async def delete_user(user_id: UUID, service: Service) -> Response:
    """Delete the user; announces user.deleted.v1."""
    await service.delete(user_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
