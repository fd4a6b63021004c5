"""Use cases that reach for drivers."""

import asyncpg
import pydantic

from users.repository.postgres.users.repository import PostgresUsers
