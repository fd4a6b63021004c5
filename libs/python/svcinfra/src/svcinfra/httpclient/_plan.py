"""`plan_request`: what a call sends, decided before anything is sent (EX-3, EX-5).

It checks the caller's options (no credential in headers, a sane deadline, a key only where the
API honours keys), settles the idempotency key once for the whole logical call, and encodes the
JSON body once, so that every attempt sends the same bytes and the same key.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from svcinfra.config import looks_secret

from ._call import UNSET
from ._definition import MAX_SECONDS
from ._errors import AdapterUsageError
from ._policy import IDEMPOTENT_METHODS

if TYPE_CHECKING:
    from ._call import RequestSpec

_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass(slots=True)  # not frozen: that costs ~2 us per call
class RequestPlan:
    """The parts of a call that stay the same on every attempt."""

    method: str
    headers: dict[str, str]
    content: bytes | None
    idempotency_key: str | None
    idempotent: bool
    deadline: float


def plan_request(
    spec: RequestSpec,
    *,
    adapter: str,
    idempotency_header: str | None,
    default_deadline: float,
) -> RequestPlan:
    """Check a call's options and settle its headers, body, key, idempotency and deadline.

    Raises:
        AdapterUsageError: a credential-looking or idempotency header passed by hand, a
            deadline out of (0, 3600], both `json` and `content`, or a key the API ignores.
    """
    method = spec.method.upper()
    deadline = default_deadline if spec.deadline is None else spec.deadline
    if not 0 < deadline <= MAX_SECONDS:
        raise AdapterUsageError(f"{_where(adapter, method, spec)}: deadline must be in (0, 3600]")
    headers = dict(spec.headers) if spec.headers else {}
    for header in headers:
        if idempotency_header and header.lower() == idempotency_header.lower():
            raise AdapterUsageError(
                f"{_where(adapter, method, spec)}: pass the key as idempotency_key="
            )
        if looks_secret(header):
            raise AdapterUsageError(
                f"{_where(adapter, method, spec)}: header {header!r} looks like a credential; "
                "credentials come only from the settings' api_key (EX-5)",
            )
    key = _idempotency_key(method, spec, adapter=adapter, header=idempotency_header)
    if key is not None and idempotency_header is not None:
        headers[idempotency_header] = key
    content = spec.content
    if spec.json is not UNSET:
        if content is not None:
            raise AdapterUsageError(f"{_where(adapter, method, spec)}: pass json or content")
        content = json.dumps(spec.json, separators=(",", ":"), ensure_ascii=False).encode()
        headers.setdefault("Content-Type", "application/json")
    idempotent = spec.idempotent
    if idempotent is None:
        idempotent = method in IDEMPOTENT_METHODS or key is not None
    return RequestPlan(method, headers, content, key, idempotent, deadline)


def _where(adapter: str, method: str, spec: RequestSpec) -> str:
    return f"{adapter} {method} {spec.route}"


def _idempotency_key(
    method: str,
    spec: RequestSpec,
    *,
    adapter: str,
    header: str | None,
) -> str | None:
    key = spec.idempotency_key
    if key is not None:
        if header is None:
            raise AdapterUsageError(
                f"{adapter} declares no idempotency_header: the API would ignore the key",
            )
        if not _KEY.match(key):
            raise AdapterUsageError("idempotency_key must be 1-255 printable ASCII characters")
        return key
    if method not in IDEMPOTENT_METHODS and spec.idempotent is None and header is not None:
        # Generated once for the logical call, so that every attempt carries the same key.
        return uuid.uuid4().hex
    return None
