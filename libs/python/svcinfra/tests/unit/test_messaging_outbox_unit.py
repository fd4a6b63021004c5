"""The outbox and inbox package data without a database: queries, migrations, checks."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from svcinfra.messaging import InvalidMessageError, PayloadValidationError, UnknownMessageError
from svcinfra.messaging.contract import contract_from_document, read_document
from svcinfra.messaging.outbox import Outbox, Relay, RelaySettings
from svcinfra.messaging.storage import migrations, queries, write_migrations
from svcinfra.postgres import QueryKind
from svcinfra.postgres.migrate import load_migrations

SERVICE = Path(__file__).parents[1] / "assets" / "messaging" / "service.yaml"
CONTRACT = contract_from_document(read_document(SERVICE.read_text()), source="service.yaml")


def test_the_queries_ship_as_named_sql_files() -> None:
    """Every query the outbox, relay and inbox run is a checked `-- name:` file (PG-10)."""
    loaded = queries()

    assert loaded.names == [
        "inbox__add", "inbox__add_batch", "inbox__add_results", "inbox__purge",
        "inbox__purge_batch", "inbox__release_savepoint", "inbox__remove",
        "inbox__rollback_savepoint", "inbox__savepoint", "inbox__seen", "inbox__seen_many",
        "outbox__add", "outbox__add_leased", "outbox__add_leased_many", "outbox__add_many",
        "outbox__claim", "outbox__hand_back", "outbox__mark_sent", "outbox__park", "outbox__parked",
        "outbox__parked_summary", "outbox__pending", "outbox__purge_parked",
        "outbox__purge_sent", "outbox__release", "outbox__retry_parked", "outbox__unclaim",
    ]  # fmt: skip
    assert loaded.query("outbox__claim").kind is QueryKind.MANY
    assert "SKIP LOCKED" in loaded.query("outbox__claim").sql
    assert "pg_notify" in loaded.query("outbox__add").sql
    assert "pg_notify" not in loaded.query("outbox__add_leased").sql  # the writer publishes it
    assert "pg_notify" in loaded.query("outbox__add_many").sql
    assert "pg_notify" not in loaded.query("outbox__add_leased_many").sql
    assert "pg_notify" in loaded.query("outbox__hand_back").sql  # the relay takes it at once
    assert loaded.query("inbox__add").kind is QueryKind.EXECROWS


def test_the_migrations_are_goose_files_with_up_and_down() -> None:
    """Both migrations parse as goose files, each with a Down section (PG-3)."""
    migration_set = load_migrations(migrations())

    assert [m.name for m in migration_set] == [
        "20261126000001_svcinfra_outbox.sql", "20261126000002_svcinfra_inbox.sql",
        "20261206000001_svcinfra_outbox_parking.sql",
    ]  # fmt: skip
    assert all(m.up and m.down and m.use_tx for m in migration_set)


def test_write_migrations_names_them_as_the_newest(tmp_path: Path) -> None:
    """Copies get consecutive UTC timestamp versions; writing twice at once refuses to clobber."""
    now = datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC)

    paths = write_migrations(tmp_path, now=now)

    assert [p.name for p in paths] == [
        "20270102030405_svcinfra_outbox.sql", "20270102030406_svcinfra_inbox.sql",
        "20270102030407_svcinfra_outbox_parking.sql",
    ]  # fmt: skip
    assert paths[0].read_text() == (migrations() / "20261126000001_svcinfra_outbox.sql").read_text()
    with pytest.raises(FileNotFoundError):
        write_migrations(tmp_path / "missing")


def test_write_migrations_again_adds_only_the_new_ones(tmp_path: Path) -> None:
    """A service that included the first two gets only the parking migration on upgrade."""
    (tmp_path / "20261126100001_svcinfra_outbox.sql").write_text("x")
    (tmp_path / "20261126100002_svcinfra_inbox.sql").write_text("x")

    paths = write_migrations(tmp_path, now=datetime(2027, 1, 2, 3, 4, 5, tzinfo=UTC))

    assert [p.name for p in paths] == ["20270102030405_svcinfra_outbox_parking.sql"]
    assert write_migrations(tmp_path) == []


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


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"max_failures": 0}, "max_failures"),
        ({"failing_after": 0}, "failing_after"),
        ({"retry_delay": 10.0, "max_retry_delay": 5.0}, "maximum delay"),
        ({"restart_delay": 0.0}, "positive"),
    ],
    ids=["max-failures", "failing-after", "retry-delays", "restart-delay"],
)
def test_the_relay_refuses_a_policy_that_cannot_work(options: dict[str, float], match: str) -> None:
    """Parking needs at least one failure; a maximum delay below its first one is a typo."""
    with pytest.raises(ValueError, match=match):
        Relay(None, None, **options)  # type: ignore[arg-type]


def test_relay_settings_give_the_relay_its_policy() -> None:
    """`OUTBOX_RELAY_*` fill the relay's options; a maximum below the first delay is blamed."""
    settings = RelaySettings(max_failures=3, retry_delay=1.0, max_retry_delay=8.0)

    assert settings.options() == {
        "max_failures": 3, "retry_delay": 1.0, "max_retry_delay": 8.0, "max_restart_delay": 60.0,
    }  # fmt: skip
    Relay(None, None, **settings.options())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="shorter than RETRY_DELAY"):
        RelaySettings(retry_delay=10.0, max_retry_delay=5.0)
