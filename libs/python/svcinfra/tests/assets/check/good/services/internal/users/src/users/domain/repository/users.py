"""The users repository port."""

from typing import Protocol

from users.domain.entity.user import User


class UserRepository(Protocol):
    """Stores users."""

    async def get(self, user_id: int) -> User:
        """Return the user or raise NotFound."""
        ...
