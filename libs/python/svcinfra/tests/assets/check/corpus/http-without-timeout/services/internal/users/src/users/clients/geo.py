"""Geo lookups."""

from __future__ import annotations

import aiohttp
import httpx
import requests
from requests import Session


async def lookup(ip: str) -> dict:
    async with httpx.AsyncClient() as client:  # expect: EX-2
        return (await client.get(f"https://geo.example/{ip}")).json()


def lookup_sync(ip: str) -> dict:
    with Session() as s:
        return s.get(f"https://geo.example/{ip}").json()  # expect: EX-2


def post(ip: str) -> None:
    requests.request("POST", "https://geo.example", json={"ip": ip})  # expect: EX-2


async def aio(ip: str) -> None:
    async with aiohttp.ClientSession() as session:  # expect: EX-2
        await session.get(f"https://geo.example/{ip}")


def stream(ip: str) -> None:
    with httpx.stream("GET", f"https://geo.example/{ip}") as r:  # expect: EX-2
        r.read()


def ok1(ip: str) -> dict:
    return httpx.get(f"https://geo.example/{ip}", timeout=2.0).json()  # ok: timeout


def ok2() -> aiohttp.ClientSession:
    return aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))  # ok: timeout


def ok3(ip: str) -> None:
    with Session() as s:
        s.get(f"https://geo.example/{ip}", timeout=5)  # ok: timeout
