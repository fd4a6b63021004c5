"""The service's outbox writer: its events, written in the transaction of the change (MQ-4)."""

from .sent_events import SENT, OutboxSentEvents

__all__ = ["SENT", "OutboxSentEvents"]
