"""schemathesis hooks for the runs of test_openapi_conformance.py (loaded by the CLI, not pytest).

Two things a schema cannot say, each handled as narrowly as it can be:

- The users search's `cursor` is opaque: only a `next_cursor` the API returned for the same
  `sort` is one, so a generated string is refused (422 naming `cursor`), and its description says
  so. That one answer to schema-valid input is accepted; any other refusal still fails the run.
  The stateful phase passes real cursors (the `next_cursor` link).
- fake-mail's `PUT /v1/faults` switches on faults for the requests that follow (latency up to a
  minute, 429 / 5xx, refused addresses, dropped connections): the answers the document lists for
  them, but not what the next generated request is about. After a PUT that took, the faults are
  reset, so each operation is held to its own contract.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import httpx
import schemathesis
from schemathesis.specs.openapi.checks import RejectedPositiveData

if TYPE_CHECKING:
    from schemathesis import Case, HookContext
    from schemathesis.core.failures import Failure
    from schemathesis.core.transport import Response

_CURSOR_REFUSALS = ("is not a cursor this API returned", "was made for sort=")


@schemathesis.hook
def filter_failure(context: HookContext, failure: Failure, case: Case, response: Response) -> bool:
    """Keep every failure but a generated cursor refused as not the API's own."""
    del context
    if not isinstance(failure, RejectedPositiveData) or case.operation.label != "GET /api/v1/users":
        return True
    if response.status_code != 422 or "cursor" not in (case.query or {}):
        return True
    try:
        fields = json.loads(response.content)["error"]["fields"]
    except (ValueError, KeyError, TypeError):
        return True
    refused_only_the_cursor = all(
        field["field"] == "cursor" and field["reason"].startswith(_CURSOR_REFUSALS)
        for field in fields
    )
    return not (fields and refused_only_the_cursor)


@schemathesis.hook
def after_call(context: HookContext, case: Case, response: Response) -> None:
    """Reset fake-mail's faults after a PUT /v1/faults that changed them."""
    del context
    if case.operation.label != "PUT /v1/faults" or response.status_code != 200:
        return
    request = response.request
    url = str(request.url)
    headers = {"Authorization": str(request.headers["Authorization"])}
    httpx.delete(url, headers=headers, timeout=10).raise_for_status()
