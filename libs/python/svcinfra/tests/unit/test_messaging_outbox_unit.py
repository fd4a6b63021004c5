"""The outbox and inbox package data without a database: queries, migrations, checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from svcinfra.messaging import InvalidMessageError, PayloadValidationError, UnknownMessageError
from svcinfra.messaging.contract import contract_from_document, read_document
from svcinfra.messaging.outbox import Outbox, Relay
from svcinfra.messaging.storage import migrations, queries, write_migrations
from svcinfra.postgres import QueryKind
from svcinfra.postgres.migrate import load_migrations

SERVICE = Path(__file__).parents[1] / "assets" / "messaging" / "service.yaml"
CONTRACT = contract_from_document(read_document(SERVICE.read_text()), source="service.yaml")


def test_the_queries_ship_as_named_sql_files() -> None:
    """Every query the outbox, relay and inbox run is a checked `-- name:` file (PG-10)."""
    loaded = queries()

    assert loaded.names == [
        "inbox__add", "inbox__purge", "inbox__seen", "outbox__add", "outbox__claim",
        "outbox__mark_sent", "outbox__pending", "outbox__purge_sent", "outbox__release",
    ]  # fmt: skip
    assert loaded.query("outbox__claim").kind is QueryKind.MANY
    assert "SKIP LOCKED" in loaded.query("outbox__claim").sql
    assert "pg_notify" in loaded.query("outbox__add").sql
    assert loaded.query("inbox__add").kind is QueryKind.EXECROWS


def test_the_migrations_are_goose_files_with_up_and_down() -> None:
    """Both migrations parse as goose files, each with a Down section (PG-3)."""
    migration_set = load_migrations(migrations())

    assert [m.name for m in migration_set] == [
        "20261126000001_svcinfra_outbox.sql", "20261126000002_svcinfra_inbox.sql",
    ]  # fmt: skip
    assert all(m.up and m.down and m.use_tx for m in migration_set)


def test_write_migrations_names_them_as_the_newest(tmp_path: Path) -> None:
    """Copies get consecutive UTC timestamp versions; writing twice at once refuses to clobber."""
    now = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)

    paths = write_migrations(tmp_path, now=now)

    assert [p.name for p in paths] == [
        "20270102030405_svcinfra_outbox.sql", "20270102030406_svcinfra_inbox.sql",
    ]  # fmt: skip
    assert paths[0].read_text() == (migrations() / "20261126000001_svcinfra_outbox.sql").read_text()
    with pytest.raises(FileExistsError):
        write_migrations(tmp_path, now=now)
    with pytest.raises(FileNotFoundError):
        write_migrations(tmp_path / "missing")


@pytest.mark.parametrize(
    ("name", "payload", "headers", "error"),
    [
        ("user.email-changed.v1", {}, None, UnknownMessageError),
        ("user.deleted.v1", {"user_id": "nope"}, None, PayloadValidationError),
        ("user.deleted.v1", None, {"retry-count": 1}, InvalidMessageError),
        ("user.deleted.v1", None, {"x-delay": 1}, InvalidMessageError),
    ],
    ids=["unknown", "schema", "reserved", "broker-owned"],
)
async def test_add_refuses_a_bad_message_before_touching_the_transaction(
    name: str, payload: dict[str, object] | None, headers: dict[str, object] | None, error: type
) -> None:
    """The contract check runs first: a bad event fails the caller's transaction at once."""
    valid = {"user_id": "3b241101-e2bb-4255-8caf-4136c566a962",
             "deleted_at": "2026-11-26T08:00:00Z"}  # fmt: skip

    with pytest.raises(error):
        await Outbox(CONTRACT).add(None, name, payload or valid, headers=headers)  # type: ignore[arg-type]


def test_a_relay_needs_positive_settings() -> None:
    """A zero batch or interval is refused when the relay is built."""
    with pytest.raises(ValueError, match="positive"):
        Relay(None, None, batch_size=0)  # type: ignore[arg-type]
