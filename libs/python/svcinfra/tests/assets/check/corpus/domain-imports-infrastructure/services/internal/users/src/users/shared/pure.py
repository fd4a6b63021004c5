"""Pure helpers."""

import enum


class Color(enum.Enum):
    """A color."""

    RED = 1
