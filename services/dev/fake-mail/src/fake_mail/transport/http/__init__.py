"""The HTTP API of fake-mail, as the external mail API's clients see it."""

from .api import build_api, openapi_yaml
from .drop import ConnectionDroppedError, DropConnectionMiddleware

__all__ = ["ConnectionDroppedError", "DropConnectionMiddleware", "build_api", "openapi_yaml"]
