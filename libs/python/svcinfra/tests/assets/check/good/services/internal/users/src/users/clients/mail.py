"""The mail API adapter."""

import httpx


def build_client(base_url: str) -> httpx.AsyncClient:
    """A client with explicit timeouts."""
    return httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(5.0))
