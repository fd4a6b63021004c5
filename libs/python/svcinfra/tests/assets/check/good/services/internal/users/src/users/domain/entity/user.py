"""The User entity."""

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class User:
    """A registered user."""

    id: int
    email: str
    created_at: datetime
