"""The Postgres implementation of UserRepository."""

from svcinfra.postgres import Database, Queries

from users.domain.entity.user import User


class PostgresUsers:
    """Users in PostgreSQL; rows map by column name."""

    def __init__(self, db: Database, queries: Queries) -> None:
        self._db = db
        self._get = queries.query("users__get_by_id")
        self._create = queries.query("users__create")

    async def get(self, user_id: int) -> User:
        """Return the user."""
        return await self._db.one(self._get, user_id, row=User)

    async def create(self, email: str) -> User:
        """Insert a user."""
        return await self._db.one(self._create, email, row=User)
