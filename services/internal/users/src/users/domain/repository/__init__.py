"""The domain's ports: what the use cases need from storage, cache and messaging (ARCH-1)."""

from .users import (
    ProfileCache,
    Transactions,
    UnitOfWork,
    UserEvents,
    UserReader,
    UserWriter,
)

__all__ = ["ProfileCache", "Transactions", "UnitOfWork", "UserEvents", "UserReader", "UserWriter"]
