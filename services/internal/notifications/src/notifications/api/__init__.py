"""The service's published interfaces (package data)."""
