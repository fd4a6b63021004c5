"""Deliveries in PostgreSQL."""

from .repository import PostgresDeliveries

__all__ = ["PostgresDeliveries"]
