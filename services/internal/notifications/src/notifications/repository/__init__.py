"""Storage adapters: the Postgres implementation of the domain's repository ports (PG-9)."""
