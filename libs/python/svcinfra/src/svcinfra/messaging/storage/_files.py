"""The outbox and inbox migrations and queries shipped as package data (PG-2, PG-10)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Final

from svcinfra.postgres import Queries, load_queries

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable
    from pathlib import Path

OUTBOX_TABLE: Final = "svcinfra_outbox"
INBOX_TABLE: Final = "svcinfra_inbox"
NOTIFY_CHANNEL: Final = "svcinfra_outbox"
"""The LISTEN/NOTIFY channel `outbox__add` notifies when its transaction commits."""

_STAMP = "%Y%m%d%H%M%S"  # goose's timestamp version format, UTC


@cache
def queries() -> Queries:
    """Return the outbox and inbox queries, loaded (and checked) once."""
    return load_queries(__package__ or __name__)


def migrations() -> Traversable:
    """Return the folder of the outbox and inbox migrations (for `load_migrations`)."""
    return files(__package__ or __name__) / "migrations"


def write_migrations(directory: Path, *, now: datetime | None = None) -> list[Path]:
    """Copy the outbox and inbox migrations a service's folder lacks into it; return the files.

    Each gets a fresh UTC timestamp version (one second apart, in order), as `svcinfra migrate
    create` would name it, so goose sees them as the newest migrations. A migration the folder
    holds already under any version (`*_svcinfra_outbox.sql`) is skipped: run it again after
    upgrading svcinfra to add only the library's new migrations.

    Raises:
        FileExistsError: a file of that name exists already.
        FileNotFoundError: `directory` does not exist.
    """
    if not directory.is_dir():
        raise FileNotFoundError(f"{directory}: migration directory not found")
    start = (now or datetime.now(UTC)).astimezone(UTC)
    present = {path.name.partition("_")[2] for path in directory.glob("*.sql")}
    sources = sorted(
        (
            item
            for item in migrations().iterdir()
            if item.name.endswith(".sql") and item.name.partition("_")[2] not in present
        ),
        key=lambda item: item.name,
    )
    written = []
    for offset, source in enumerate(sources):
        name = source.name.partition("_")[2]
        path = directory / f"{(start + timedelta(seconds=offset)).strftime(_STAMP)}_{name}"
        with path.open("x", encoding="utf-8") as file:
            file.write(source.read_text(encoding="utf-8"))
        written.append(path)
    return written
