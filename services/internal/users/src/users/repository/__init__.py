"""Adapters that store the domain's data (PG-9)."""
