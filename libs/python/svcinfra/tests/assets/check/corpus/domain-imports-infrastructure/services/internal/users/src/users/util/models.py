"""Validation models (pydantic), wrongly shared with the domain."""

from pydantic import BaseModel


class Money(BaseModel):
    """An amount in cents."""

    cents: int
