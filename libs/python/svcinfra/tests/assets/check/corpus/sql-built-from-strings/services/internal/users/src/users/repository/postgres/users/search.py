"""Search built by hand."""

from __future__ import annotations

from typing import Any


def by_name(name: str) -> str:
    return f"SELECT id, email FROM users WHERE name = '{name}'"  # expect: PG-6


def by_status(status: str) -> str:
    return "SELECT id FROM users WHERE status = '%s'" % status  # expect: PG-6


def ordered(column: str) -> str:
    return "SELECT id FROM users ORDER BY " + column  # expect: PG-6


def paged(limit: int) -> str:
    return "SELECT id FROM users LIMIT {}".format(limit)  # expect: PG-6


def where(clauses: list[str]) -> str:
    return "SELECT id FROM users WHERE " + " AND ".join(clauses)  # expect: PG-6


def message(name: str) -> str:
    return f"select a plan for {name}, then continue"  # ok: prose, not SQL


def label(table: str) -> str:
    return "users table: " + table  # ok: not a statement


def params(values: list[Any]) -> str:
    return ", ".join(f"${i}" for i in range(1, len(values) + 1))  # ok: placeholders only
