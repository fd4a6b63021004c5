"""The HTTP API of fake-mail, as the external mail API's clients see it."""

from .api import build_api
from .drop import ConnectionDroppedError, DropConnectionMiddleware

__all__ = ["ConnectionDroppedError", "DropConnectionMiddleware", "build_api"]
