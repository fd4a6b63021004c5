"""Adapters of external APIs (EX-1): one module per API."""
