"""The journal: every accepted message, kept across restarts (the recipients' inboxes)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from fake_mail.domain import Mailbox, SendRequest

if TYPE_CHECKING:
    from pathlib import Path


def _request(to: str) -> SendRequest:
    return SendRequest(to=to, subject="Hi", text="Hello")


def test_each_accepted_message_is_appended_and_a_new_mailbox_keeps_the_file(
    tmp_path: Path,
) -> None:
    journal = tmp_path / "journal.jsonl"
    first = Mailbox(journal=journal)
    accepted = first.accept("k1", _request("ada@example.com"))
    assert first.stored("k1", _request("ada@example.com"))[0] == accepted

    restarted = Mailbox(journal=journal)  # a restart: memory gone, the journal kept
    assert restarted.messages() == []
    assert restarted.stored("k1", _request("ada@example.com")) == (None, True)
    again = restarted.accept("k1", _request("ada@example.com"))  # the key is forgotten

    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [(e["id"], e["to"], e["idempotency_key"]) for e in lines] == [
        (accepted.id, "ada@example.com", "k1"),
        (again.id, "ada@example.com", "k1"),
    ]
    assert lines[0]["accepted_at"] == accepted.accepted_at.isoformat()
    assert "subject" not in lines[0]  # addresses and keys only, no contents


def test_without_a_journal_nothing_is_written(tmp_path: Path) -> None:
    Mailbox().accept("k1", _request("ada@example.com"))
    assert list(tmp_path.iterdir()) == []
