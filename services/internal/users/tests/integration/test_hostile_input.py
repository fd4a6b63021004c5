"""Hostile input through the real ASGI app and database (issue #10): never a 5xx, never a changed
query.

Every string field of every operation gets the same table of payloads: SQL injection classics,
LIKE wildcards, 10 kB and 1 MB strings, lone surrogates, NUL and other control characters,
right-to-left and zero-width characters, emoji. Each answer is either a 4xx naming the field, or
a success whose value reads back literally (email and username are lowercased by contract).

"Never a changed query": pg_stat_statements is installed on the development server but not
preloaded (`shared_preload_libraries` is empty), so the statements themselves cannot be listed.
Instead, after every payload the users table's rows (all columns) are compared with a snapshot:
a rejected payload changes nothing, an accepted one adds or changes exactly its own row; the
schema's tables and columns are the same at the end, and a sentinel user is still found by
email, by username prefix and by id.
"""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import asyncpg
import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    import httpx

    from svcinfra.testing.pytest_plugin import PostgresDatabase

pytestmark = [pytest.mark.postgres, pytest.mark.redis]

USERS = "/api/v1/users"
MAX_URL_VALUE = 60_000
SENTINEL = {"email": "sentinel@example.com", "username": "sentinel", "display_name": "Sentinel"}

PAYLOADS: dict[str, str] = {
    "or-true": "' OR 1=1 --",
    "drop-table": "'; DROP TABLE users; --",
    "delete-all": "x'); DELETE FROM users; --",
    "union": "' UNION SELECT email, username FROM users --",
    "placeholder": "$1",
    "backslash": "\\",
    "percent": "%",
    "underscore": "_",
    "double-quote": '" OR ""="',
    "10kB": "a" * 10_000,
    "1MB": "a" * 1_000_000,
    "lone-surrogate": "a\ud800b",
    "nul": "a\x00b",
    "escape-sequence": "\x1b[31mred",
    "newline": "a\r\nb",
    "delete-char": "a\x7fb",
    "rtl-override": "\u202eevil",
    "zero-width": "a\u200bb",
    "emoji": "\U0001f600 smile",
}
# Values of the right shape for each field, wrapping a payload where the field has a syntax.
SHAPED: dict[str, str] = {
    "email-or-true": "'or'1'='1'--@example.com",
    "email-drop-table": "';DROP\tTABLE@example.com",
    "email-quote": "o'hara@example.com",
    "email-percent": "%@example.com",
    "email-emoji": "\U0001f600@example.com",
    "email-nul": "a\x00b@example.com",
    "username-underscore": "___",
    "display-quote": "O'Hara; DROP TABLE users; --",
    "display-rtl": "\u202eevil\u202c",
    "display-zero-width": "a\u200bb",
}


def jsonable(value: str) -> bytes:
    """A JSON body field; lone surrogates go as `\\ud800` escapes (valid JSON, invalid Unicode)."""
    return json.dumps(value).encode()


@pytest.fixture
async def admin(migrated: PostgresDatabase) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(migrated.dsn)
    yield connection
    await connection.close()


@pytest.fixture
async def sentinel(api: httpx.AsyncClient) -> dict[str, Any]:
    created = await api.post(USERS, json=SENTINEL)
    assert created.status_code == 201, created.text
    return created.json()  # type: ignore[no-any-return]


async def snapshot(admin: asyncpg.Connection) -> dict[str, tuple[Any, ...]]:
    rows = await admin.fetch("SELECT * FROM users ORDER BY id")
    return {str(row["id"]): tuple(row.values()) for row in rows}


async def schema(admin: asyncpg.Connection) -> list[tuple[str, str, str]]:
    rows = await admin.fetch(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        " WHERE table_schema = 'public' ORDER BY table_name, column_name"
    )
    return [tuple(row.values()) for row in rows]


class Checker:
    """Sends payloads, records every broken rule instead of stopping at the first."""

    def __init__(self, api: httpx.AsyncClient, admin: asyncpg.Connection) -> None:
        self.api, self.admin = api, admin
        self.problems: list[str] = []

    async def send(
        self, label: str, method: str, url: str, field: str, body: bytes | None = None
    ) -> httpx.Response:
        headers = {"content-type": "application/json"} if body is not None else {}
        before = await snapshot(self.admin)
        response = await self.api.request(method, url, content=body, headers=headers)
        after = await snapshot(self.admin)
        status = response.status_code
        if status >= 500:
            self.problems.append(f"{label}: {method} {field} -> {status} {response.text[:200]}")
        elif status >= 400:
            if after != before:
                self.problems.append(f"{label}: {field} rejected ({status}) but rows changed")
            if status == 422 and field not in fields(response):
                self.problems.append(f"{label}: 422 does not name {field}: {response.text[:200]}")
        else:
            changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
            if method in {"GET", "HEAD"} and changed:
                self.problems.append(f"{label}: a read of {field} changed rows {changed}")
            if method in {"POST", "PATCH"} and changed != {response.json()["id"]}:
                self.problems.append(f"{label}: {field} changed rows {changed}")
        return response

    def literal(self, label: str, response: httpx.Response, field: str, sent: str) -> None:
        """A stored value reads back as sent (lowercased where the contract lowercases)."""
        if response.status_code >= 400:
            return
        want = sent if field == "display_name" else sent.lower()
        if response.json()[field] != want:
            self.problems.append(f"{label}: {field} stored as {response.json()[field]!r}")


def fields(response: httpx.Response) -> list[str]:
    try:
        return [p["field"] for p in response.json()["error"]["fields"]]
    except (ValueError, KeyError, TypeError):
        return []


def all_values(*, in_url: bool = False) -> dict[str, str]:
    """The payloads; in a URL without the 1 MB one, which httpx refuses to send (its URL limit
    is 64 kB) as a real server refuses a request line that long before the app sees it."""
    values = PAYLOADS | SHAPED
    return {k: v for k, v in values.items() if not (in_url and len(v) > MAX_URL_VALUE)}


def body_of(field: str, value: str, index: int) -> dict[str, str]:
    """A valid registration, unique by `index`, with `field` replaced by `value`."""
    return {
        "email": f"user{index}@example.com",
        "username": f"user_{index}",
        "display_name": f"User {index}",
        field: value,
    }


def encoded(data: dict[str, str]) -> bytes:
    return b"{" + b",".join(jsonable(k) + b":" + jsonable(v) for k, v in data.items()) + b"}"


async def still_sane(
    api: httpx.AsyncClient, admin: asyncpg.Connection, sentinel: dict[str, Any], shape: list[Any]
) -> None:
    """The sentinel is found by every access path, and the schema is what the migrations made."""
    assert await schema(admin) == shape
    by_id = await api.get(f"{USERS}/{sentinel['id']}")
    by_name = await api.get(f"{USERS}/by-username/sentinel")
    by_email = await api.get(USERS, params={"email": SENTINEL["email"]})
    by_prefix = await api.get(USERS, params={"username_prefix": "sentin"})
    assert by_id.json() == by_name.json()
    assert by_email.json()["items"] == by_prefix.json()["items"] == [by_id.json()]
    assert by_id.json() | {"updated_at": None} == sentinel | {"updated_at": None}


@pytest.mark.parametrize("field", ["email", "username", "display_name"])
async def test_body_fields_of_create_and_update(
    api: httpx.AsyncClient,
    admin: asyncpg.Connection,
    sentinel: dict[str, Any],
    field: str,
) -> None:
    shape = await schema(admin)
    check = Checker(api, admin)
    for index, (label, value) in enumerate(all_values().items()):
        created = await check.send(
            label, "POST", USERS, field, encoded(body_of(field, value, index))
        )
        check.literal(label, created, field, value)
        patched = await check.send(
            label, "PATCH", f"{USERS}/{sentinel['id']}", field, encoded({field: value})
        )
        check.literal(label, patched, field, value)
        if patched.status_code < 400:
            restored = await api.patch(f"{USERS}/{sentinel['id']}", json=SENTINEL)
            assert restored.status_code == 200, restored.text
    assert check.problems == []
    await still_sane(api, admin, sentinel, shape)


@pytest.mark.parametrize("param", ["username_prefix", "email", "sort", "cursor"])
async def test_query_parameters_of_search(
    api: httpx.AsyncClient,
    admin: asyncpg.Connection,
    sentinel: dict[str, Any],
    param: str,
) -> None:
    shape = await schema(admin)
    check = Checker(api, admin)
    for label, value in all_values(in_url=True).items():
        # quote() of a lone surrogate would fail: send its UTF-8 bytes as a browser cannot,
        # percent-encoded (`surrogatepass`), the server sees invalid UTF-8.
        raw = quote(value.encode("utf-8", "surrogatepass"), safe="")
        response = await check.send(label, "GET", f"{USERS}?{param}={raw}", param)
        if response.status_code == 200:
            items = response.json()["items"]
            if param in {"email", "username_prefix"} and items:
                check.problems.append(f"{label}: {param} matched {items}")
    assert check.problems == []
    await still_sane(api, admin, sentinel, shape)


async def test_the_username_prefix_is_a_literal_not_a_like_pattern(
    api: httpx.AsyncClient, admin: asyncpg.Connection
) -> None:
    """`_` (LIKE's any-character) matches itself only; `%` is refused by the parameter's syntax."""
    del admin
    for index, username in enumerate(("ab_c", "abxc", "ab_z")):
        created = await api.post(USERS, json=body_of("username", username, index))
        assert created.status_code == 201, created.text
    found = await api.get(USERS, params={"username_prefix": "ab_", "sort": "username"})
    assert [u["username"] for u in found.json()["items"]] == ["ab_c", "ab_z"]
    percent = await api.get(USERS, params={"username_prefix": "ab%"})
    assert percent.status_code == 422
    assert fields(percent) == ["username_prefix"]


async def test_path_ids(
    api: httpx.AsyncClient, admin: asyncpg.Connection, sentinel: dict[str, Any]
) -> None:
    shape = await schema(admin)
    check = Checker(api, admin)
    for label, value in all_values(in_url=True).items():
        raw = quote(value.encode("utf-8", "surrogatepass"), safe="")
        for method in ("GET", "DELETE"):
            response = await check.send(label, method, f"{USERS}/{raw}", "user_id")
            if response.status_code < 400:
                check.problems.append(f"{label}: {method} by id answered {response.status_code}")
        patch = await check.send(
            label, "PATCH", f"{USERS}/{raw}", "user_id", encoded({"display_name": "x"})
        )
        if patch.status_code < 400:
            check.problems.append(f"{label}: PATCH by id answered {patch.status_code}")
        by_name = await check.send(label, "GET", f"{USERS}/by-username/{raw}", "username")
        if by_name.status_code not in {404, 422}:
            check.problems.append(f"{label}: by-username answered {by_name.status_code}")
    assert check.problems == []
    await still_sane(api, admin, sentinel, shape)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            b'{"email": "a@b.cd", "username": "abc", "display_name": "\xff\xfe"}',
            id="invalid-utf8-in-a-string",
        ),
        pytest.param(b"\xef\xbb\xbf{}", id="bom"),
        pytest.param(
            b'{"email": "a@b.cd", "username": "abc", "display_name": "\\u0000"}', id="escaped-nul"
        ),
        pytest.param(b"[" * 10_000 + b"]" * 10_000, id="deeply-nested-array"),
        pytest.param(b'{"a":' * 5_000 + b"1" + b"}" * 5_000, id="deeply-nested-object"),
        pytest.param(
            b'{"email": ["a@b.cd"], "username": "abc", "display_name": "x"}', id="list-for-a-string"
        ),
        pytest.param(
            b'{"email": "a@b.cd", "username": 123, "display_name": "x"}', id="number-for-a-string"
        ),
        pytest.param(
            b'{"email": "a@b.cd", "username": "abc", "display_name": null}', id="null-for-a-string"
        ),
        pytest.param(
            b'{"email": {"$ne": ""}, "username": "abc", "display_name": "x"}',
            id="object-for-a-string",
        ),
        pytest.param(b'"just a string"', id="string-body"),
        pytest.param(b"NaN", id="nan"),
        pytest.param(
            b'{"email": "a@b.cd", "email": "b@c.de", "username": "abc"}', id="duplicate-keys"
        ),
        pytest.param(b"", id="empty"),
    ],
)
async def test_malformed_bodies_are_4xx_and_store_nothing(
    api: httpx.AsyncClient, admin: asyncpg.Connection, body: bytes
) -> None:
    before = await snapshot(admin)
    for method, url in (("POST", USERS), ("PATCH", f"{USERS}/{uuid.UUID(int=7)}")):
        response = await api.request(
            method, url, content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code in {400, 404, 422}, (method, response.text[:300])
        assert response.json()["error"]["code"] != "internal"
    assert await snapshot(admin) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
async def test_a_wrong_content_type_is_4xx(
    api: httpx.AsyncClient, admin: asyncpg.Connection, content_type: str
) -> None:
    before = await snapshot(admin)
    response = await api.post(
        USERS, content=json.dumps(SENTINEL).encode(), headers={"content-type": content_type}
    )
    assert 400 <= response.status_code < 500, response.text
    assert await snapshot(admin) == before


async def test_oversized_bodies_are_413_declared_or_chunked(
    api: httpx.AsyncClient, admin: asyncpg.Connection
) -> None:
    body = encoded(body_of("display_name", "a" * 1_000_000, 1))

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 8192):
            yield body[start : start + 8192]

    before = await snapshot(admin)
    declared = await api.post(USERS, content=body, headers={"content-type": "application/json"})
    streamed = await api.post(USERS, content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in streamed.request.headers
    assert declared.status_code == streamed.status_code == 413
    assert declared.json()["error"]["code"] == "payload_too_large"
    assert await snapshot(admin) == before
