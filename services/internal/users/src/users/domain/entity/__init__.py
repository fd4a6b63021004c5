"""The domain's types: frozen, slotted dataclasses with their invariants."""

from .search import Cursor, Page, SearchQuery, SortKey, SortOrder, parse_search
from .user import NewUser, User, UserChanges

__all__ = [
    "Cursor",
    "NewUser",
    "Page",
    "SearchQuery",
    "SortKey",
    "SortOrder",
    "User",
    "UserChanges",
    "parse_search",
]
