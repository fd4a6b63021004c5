"""The mail API adapter, without timeouts."""

import httpx
import requests
from httpx import AsyncClient


def build_client(base_url: str) -> httpx.AsyncClient:
    """A client without a timeout."""
    requests.get(base_url)
    AsyncClient(base_url=base_url)
    return httpx.AsyncClient(base_url=base_url)
