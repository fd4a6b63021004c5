"""Statements written inline."""

from __future__ import annotations

GET = "SELECT id, email FROM users WHERE id = $1"  # expect: PG-10
INSERT = (
    "INSERT INTO users (email) VALUES ($1) RETURNING id"  # expect: PG-10
)
QUERIES = {
    "delete": "DELETE FROM users WHERE id = $1",  # expect: PG-10
}
UPSERT = (
    "INSERT INTO users (id, email) VALUES ($1, $2) "  # expect: PG-10
    "ON CONFLICT (id) DO UPDATE SET email = excluded.email"
)
PURGE = """
    DELETE FROM sessions
    WHERE expires_at < now()
"""


def lock() -> str:
    return "LOCK TABLE users IN SHARE MODE"  # expect: PG-10


TITLE = "Select the users you want to delete"  # ok: a sentence
HINT = "update your email in settings"  # ok: a sentence
COLUMN = "email"  # ok: a column name
