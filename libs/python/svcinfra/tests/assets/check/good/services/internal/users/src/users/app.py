"""Composition root."""

from svcinfra.postgres import Database, load_queries

from users.config import UsersConfig
from users.repository.postgres.users.repository import PostgresUsers


async def build(config: UsersConfig) -> PostgresUsers:
    """Wire the adapters to the ports."""
    db = await Database.connect(config.postgres)
    return PostgresUsers(db, load_queries("users"))
