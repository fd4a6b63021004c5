"""An HTTP helper."""

import httpx


def fetch_rate(url: str) -> float:
    """Read an exchange rate."""
    return float(httpx.get(url, timeout=2.0).text)
