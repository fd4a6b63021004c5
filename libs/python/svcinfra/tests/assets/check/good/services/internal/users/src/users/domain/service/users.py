"""Use cases of the users service."""

from users.domain.entity.user import User
from users.domain.repository.users import UserRepository


async def profile(users: UserRepository, user_id: int) -> User:
    """Select a user from the store and return it."""
    return await users.get(user_id)
