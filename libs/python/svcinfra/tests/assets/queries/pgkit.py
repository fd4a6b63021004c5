"""Shared by the `Database` integration tests: the fixture schema, row type and queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime  # noqa: TC003  (the mapper reads the annotations at run time)

import asyncpg

from svcinfra.postgres import Queries, load_queries

# The tables `good_service`'s queries run against; constraint names are asserted in the tests.
SCHEMA = """
CREATE TABLE teams (id bigint PRIMARY KEY, name text NOT NULL UNIQUE);
CREATE TABLE users (
    id bigserial PRIMARY KEY,
    team_id bigint REFERENCES teams (id),
    username text NOT NULL CONSTRAINT users_username_key UNIQUE,
    email text NOT NULL,
    status text NOT NULL DEFAULT 'active' CONSTRAINT users_status_check
        CHECK (status IN ('active', 'blocked')),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE counters (id int PRIMARY KEY, value int NOT NULL);
INSERT INTO counters VALUES (1, 0);
"""


@dataclass(frozen=True, slots=True)
class User:
    """A `users` row, as the fixture service's repository maps it."""

    id: int
    team_id: int | None
    username: str
    email: str
    status: str
    created_at: datetime


def good_queries() -> Queries:
    """The fixture service's named queries, loaded from its package (this folder is on sys.path)."""
    return load_queries("good_service")


async def create_schema(dsn: str) -> None:
    """Create the fixture service's tables in the database at `dsn`."""
    con = await asyncpg.connect(dsn)
    try:
        await con.execute(SCHEMA)
    finally:
        await con.close()
