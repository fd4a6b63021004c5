"""The consumer's handlers of the contract's messages."""

from .user_registered import USER_REGISTERED, UserRegisteredHandler, registration_of

__all__ = ["USER_REGISTERED", "UserRegisteredHandler", "registration_of"]
