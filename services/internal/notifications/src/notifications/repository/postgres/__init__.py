"""The Postgres repositories; their SQL ships as package data beside them (PG-10)."""
