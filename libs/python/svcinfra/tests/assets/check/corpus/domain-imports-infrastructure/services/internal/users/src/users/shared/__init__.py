"""Shared bits."""
