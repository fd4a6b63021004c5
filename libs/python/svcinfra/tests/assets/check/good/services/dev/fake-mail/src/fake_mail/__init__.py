"""Fake mail API."""
