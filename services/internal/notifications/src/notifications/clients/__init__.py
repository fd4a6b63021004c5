"""Adapters of external APIs, one per API (EX-1)."""
