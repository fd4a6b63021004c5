"""Messaging adapters: the users service's events, written to its outbox (MQ-3)."""
