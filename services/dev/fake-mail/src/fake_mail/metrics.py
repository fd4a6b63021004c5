"""fake-mail's Prometheus metrics, served on the tech port with the process metrics."""

from __future__ import annotations

from typing import Final

from prometheus_client import Counter

ACCEPTED: Final = Counter("fake_mail_messages_accepted", "Messages accepted and recorded.")
REPLAYED: Final = Counter(
    "fake_mail_messages_replayed", "Requests answered with the result stored under their key."
)
REJECTED: Final = Counter(
    "fake_mail_messages_rejected", "Messages refused with 422 (address on the reject list)."
)
FAULTS: Final = Counter(
    "fake_mail_faults_injected",
    "Faults injected, by kind: latency, rate_limit, error, crash_after_accept.",
    ["kind"],
)
