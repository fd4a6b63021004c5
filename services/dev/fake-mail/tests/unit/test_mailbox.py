"""The mailbox's stored results: kept for the key's lifetime, then dropped as new ones come."""

from __future__ import annotations

from fake_mail.domain import Mailbox, SendRequest

_REQUEST = SendRequest(to="ada@example.com", subject="Hi", text="Hello")


def test_expired_results_are_dropped_at_the_next_acceptance_and_live_ones_kept() -> None:
    now = [0.0]
    mailbox = Mailbox(key_ttl=60, clock=lambda: now[0])
    for second, key in enumerate(("k1", "k2", "k3")):
        now[0] = float(second * 10)  # k1 at 0 s, k2 at 10 s, k3 at 20 s
        mailbox.accept(key, _REQUEST)

    now[0] = 65.0  # k1 expired (at 60 s), k2 and k3 alive
    mailbox.accept("k4", _REQUEST)
    # Nothing read k1 since: the acceptance itself dropped it (memory stays bounded).
    assert sorted(mailbox._results) == ["k2", "k3", "k4"]
    assert mailbox.stored("k2", _REQUEST)[0] is not None

    now[0] = 200.0
    mailbox.accept("k5", _REQUEST)
    assert sorted(mailbox._results) == ["k5"]
    assert len(mailbox.messages()) == 5  # the record of what was sent keeps everything


def test_a_result_stored_again_under_a_key_lives_its_own_lifetime() -> None:
    now = [0.0]
    mailbox = Mailbox(key_ttl=60, clock=lambda: now[0])
    mailbox.accept("k1", _REQUEST)
    now[0] = 10.0
    second = mailbox.accept("k1", _REQUEST)  # replaces the first result: expires at 70 s

    now[0] = 60.0  # the first result's expiry passes: the second must stay
    mailbox.accept("k2", _REQUEST)
    assert mailbox.stored("k1", _REQUEST) == (second, True)

    now[0] = 70.0
    mailbox.accept("k3", _REQUEST)
    assert "k1" not in mailbox._results


def test_clear_forgets_the_expiries_with_the_results() -> None:
    now = [0.0]
    mailbox = Mailbox(key_ttl=60, clock=lambda: now[0])
    mailbox.accept("k1", _REQUEST)
    mailbox.clear()
    now[0] = 30.0
    mailbox.accept("k1", _REQUEST)  # stored anew at 30 s: expires at 90 s
    now[0] = 61.0  # the cleared result's expiry passes
    mailbox.accept("k2", _REQUEST)
    assert mailbox.stored("k1", _REQUEST)[0] is not None
