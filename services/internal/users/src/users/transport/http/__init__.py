"""The HTTP API (FastAPI) under /api/v1/users, with one error boundary."""

from .api import build_api, openapi_yaml

__all__ = ["build_api", "openapi_yaml"]
