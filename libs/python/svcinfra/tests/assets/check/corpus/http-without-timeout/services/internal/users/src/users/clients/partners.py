"""Partner API calls: without a timeout, and with one."""

from __future__ import annotations

import urllib.request

import httpx as hx
import requests
from httpx import AsyncClient as Http


def rate(url: str) -> str:
    return hx.get(url).text  # expect: EX-2


def status(url: str) -> int:
    return requests.Session().get(url).status_code  # expect: EX-2


def unbounded() -> hx.Client:
    return hx.Client(base_url="https://partner.example", timeout=None)  # expect: EX-2


def push(session: requests.Session, url: str) -> None:
    session.post(url, json={"a": 1})  # expect: EX-2


def aliased() -> Http:
    return Http(base_url="https://partner.example")  # expect: EX-2


def legacy(url: str) -> bytes:
    return urllib.request.urlopen(url).read()  # expect: EX-2


def bounded() -> hx.AsyncClient:
    return hx.AsyncClient(timeout=hx.Timeout(5.0, connect=2.0))  # ok: explicit timeout


def one_off(url: str) -> int:
    return requests.get(url, timeout=3).status_code  # ok: explicit timeout


def with_session(session: requests.Session, url: str) -> int:
    return session.get(url, timeout=(2, 10)).status_code  # ok: explicit timeout


async def through_client(client: hx.AsyncClient, url: str) -> int:
    return (await client.get(url)).status_code  # ok: the client's own timeout applies
