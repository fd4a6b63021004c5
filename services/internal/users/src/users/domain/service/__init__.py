"""The use cases of the users service."""

from .users import UsersService

__all__ = ["UsersService"]
