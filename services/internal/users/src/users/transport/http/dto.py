"""The API's request and response bodies.

The OpenAPI document (users/api/server/api.yaml) is generated from these and the routes, and a
test fails when the committed file drifts.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Final
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

from users.domain.entity.user import (
    CONTROL_CHARACTERS,
    DISPLAY_NAME_MAX,
    EMAIL_MAX,
    EMAIL_PATTERN,
    USERNAME_MAX,
    USERNAME_MIN,
)

if TYPE_CHECKING:
    from users.domain.entity import Page, User

# The limits are the domain's (users.domain.entity.user), so the OpenAPI document states the very
# rules the use cases enforce; the domain checks them again after normalizing (lowercase).
EMAIL_REGEX: Final = f"^(?:{EMAIL_PATTERN.pattern})$"
Email = Annotated[
    str,
    Field(
        min_length=3,
        max_length=EMAIL_MAX,
        pattern=EMAIL_REGEX,
        description="An address; stored in lowercase, unique.",
        examples=["ada@example.com"],
    ),
]
Username = Annotated[
    str,
    Field(
        pattern=f"^[A-Za-z0-9_]{{{USERNAME_MIN},{USERNAME_MAX}}}$",
        description="3-32 characters of a-z, 0-9 and _; stored in lowercase.",
        examples=["ada_lovelace"],
    ),
]
DisplayName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=DISPLAY_NAME_MAX,
        pattern=f"^[^{CONTROL_CHARACTERS}]*$",
        description="1-100 characters, no control characters.",
        examples=["Ada Lovelace"],
    ),
]


class CreateUser(BaseModel):
    """A registration."""

    model_config = ConfigDict(extra="forbid")

    email: Email
    username: Username
    display_name: DisplayName


def _present_only(schema: dict[str, Any]) -> None:
    """The schema of a field that may be left out but is never null: its string branch only."""
    (present,) = [branch for branch in schema.pop("anyOf") if branch.get("type") != "null"]
    schema.pop("default", None)
    schema.update(present)


class UpdateUser(BaseModel):
    """A partial update: the fields given change, the others stay; at least one is needed."""

    # minProperties: the use case refuses a change of nothing (UserChanges.parse).
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    # None is "left out" (the default); an explicit null is refused, as the document says.
    email: Email | None = Field(default=None, json_schema_extra=_present_only)
    username: Username | None = Field(default=None, json_schema_extra=_present_only)
    display_name: DisplayName | None = Field(default=None, json_schema_extra=_present_only)

    @field_validator("email", "username", "display_name", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise ValueError("must be a string; leave the field out to keep its value")
        return value


class UserOut(BaseModel):
    """A user; times are UTC."""

    id: UUID
    email: str
    username: str
    display_name: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, user: User) -> UserOut:
        """The body of `user`."""
        return cls(
            id=user.id,
            email=user.email,
            username=user.username,
            display_name=user.display_name,
            created_at=user.created_at,
            updated_at=user.updated_at,
        )


_USER_JSON: Final = TypeAdapter(UserOut)


def user_json(user: User) -> bytes:
    """The JSON body of `user`: byte for byte what FastAPI answers for a `UserOut` model.

    (FastAPI >= 0.120 serializes a response model with its TypeAdapter's `dump_json`, by alias.)
    The GET handler answers with these bytes, which the profile cache may keep with the user.
    """
    return _USER_JSON.dump_json(UserOut.of(user), by_alias=True)


class UserPage(BaseModel):
    """One page of a search; pass `next_cursor` as `cursor` to get the next (null: last page)."""

    items: list[UserOut]
    next_cursor: str | None

    @classmethod
    def of(cls, page: Page) -> UserPage:
        """The body of `page`."""
        cursor = None if page.next_cursor is None else page.next_cursor.encode()
        return cls(items=[UserOut.of(user) for user in page.users], next_cursor=cursor)


class FieldProblem(BaseModel):
    """What is wrong with one field."""

    field: str = Field(description="The field or parameter, e.g. `username` or `limit`.")
    reason: str = Field(description="The rule it breaks.")


class ErrorDetail(BaseModel):
    """What went wrong, safe to show: never a stack trace or a database message."""

    code: str = Field(
        description="validation_failed, not_found, conflict, payload_too_large, "
        "temporarily_unavailable, internal, or the HTTP reason of a routing error."
    )
    message: str
    fields: list[FieldProblem] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: ErrorDetail
