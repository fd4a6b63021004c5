"""Mail intents in PostgreSQL."""

from .repository import PostgresIntents

__all__ = ["PostgresIntents"]
