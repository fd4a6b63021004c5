"""PostgreSQL adapters; the named queries are in each model's sql/ folder (PG-10)."""
