"""Webhooks posted from the transport layer."""

from __future__ import annotations

import httpx  # expect: EX-1
import requests as rq  # expect: EX-1
from aiohttp import ClientSession  # expect: EX-1
from urllib.request import urlopen  # expect: EX-1
from svcinfra.httpclient import HttpClient  # expect: EX-1
import json  # ok: not HTTP
from http import HTTPStatus  # ok: status codes, not a client
from users.clients import mail  # ok: the adapter

ALL = (httpx, rq, ClientSession, urlopen, HttpClient, json, HTTPStatus, mail)
