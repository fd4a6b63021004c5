"""Reference service: the users HTTP API on PostgreSQL, a Redis profile cache, events through the outbox."""
