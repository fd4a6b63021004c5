"""SQLAlchemy base."""

from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Base."""
