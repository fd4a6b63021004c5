"""A service whose query files break every rule the loader checks (PG-10)."""
