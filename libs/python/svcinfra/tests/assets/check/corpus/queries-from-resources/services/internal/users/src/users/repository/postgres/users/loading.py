"""Queries read from disk."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).parent


def by_path(name: str) -> str:
    return (HERE / "sql" / f"{name}.sql").read_text()  # expect: PG-10


def with_open(name: str) -> str:
    with open(os.path.join(os.path.dirname(__file__), "sql", name + ".sql")) as f:  # expect: PG-10
        return f.read()


def all_files() -> list[str]:
    return [p.read_text() for p in (HERE / "sql").glob("*.sql")]  # expect: PG-10


def bytes_of(name: str) -> bytes:
    return Path(__file__).with_name("sql").joinpath(name).read_bytes()  # expect: PG-10


def absolute() -> str:
    return Path("/app/users/sql/get.sql").read_text()  # expect: PG-10


def config_file() -> str:
    return (HERE / "defaults.toml").read_text()  # ok: not a query


def readme() -> str:
    return Path(__file__).with_name("README.md").read_text()  # ok: not a query


def resources() -> str:
    from importlib.resources import files

    return files("users.repository.postgres.users").joinpath("sql/get.sql").read_text()  # ok: resources
