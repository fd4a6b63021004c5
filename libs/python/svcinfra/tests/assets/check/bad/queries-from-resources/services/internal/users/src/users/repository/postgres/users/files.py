"""Reads SQL by path."""

from pathlib import Path


def read(name: str) -> str:
    """Read one query file."""
    return (Path(__file__).parent / "sql" / f"{name}.sql").read_text()
