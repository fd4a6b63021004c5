"""A service whose query files are all valid (PG-10)."""
