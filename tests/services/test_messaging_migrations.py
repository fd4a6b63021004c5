"""The services' copies of the outbox and inbox migrations are the library's, byte for byte.

`svcinfra.messaging.storage.write_migrations` copies them into a service's migration folder under
a new version (goose needs the files in the service's own sequence); the library's queries read
the tables as the library defines them, so a copy edited by hand would break the relay or the
consumer at run time. When the library's files change, write the copies again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from svcinfra.messaging.storage import migrations

REPO = Path(__file__).resolve().parents[2]
COPIES = sorted(REPO.glob("services/*/*/src/*/cli/migrations/*_svcinfra_*.sql"))
LIBRARY = {item.name.partition("_")[2]: item for item in migrations().iterdir()}


def test_the_services_copy_the_messaging_tables() -> None:
    """Both reference services keep an outbox; notifications, a consumer, an inbox too."""
    names = {(copy.parts[-6], copy.name.partition("_")[2]) for copy in COPIES}
    assert {
        ("users", "svcinfra_outbox.sql"),
        ("notifications", "svcinfra_outbox.sql"),
        ("notifications", "svcinfra_inbox.sql"),
    } <= names


@pytest.mark.parametrize("copy", COPIES, ids=lambda path: str(path.relative_to(REPO)))
def test_a_copy_is_the_library_migration(copy: Path) -> None:
    """Same text as the library's migration of that name (only the version differs)."""
    source = LIBRARY[copy.name.partition("_")[2]]
    assert copy.read_text(encoding="utf-8") == source.read_text(encoding="utf-8")
