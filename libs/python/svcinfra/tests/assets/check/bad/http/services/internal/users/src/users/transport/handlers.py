"""Handlers calling HTTP directly."""

import httpx
