"""PostgreSQL adapters: the only place the users service runs SQL (PG-9)."""
