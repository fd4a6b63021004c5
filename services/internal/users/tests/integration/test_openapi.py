"""The OpenAPI document: committed, in step with the code, and no generated input gets a 5xx."""

from __future__ import annotations

import asyncio
from collections import Counter
from importlib.resources import files
from typing import TYPE_CHECKING

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance
from users.app import build_app
from users.transport.http import openapi_yaml

from svcinfra.app import AsgiServer

if TYPE_CHECKING:
    from users.app import Wiring

    from svcinfra.cache import CacheClient
    from svcinfra.postgres import Database

API_YAML = files("users.api.server") / "api.yaml"


def test_the_committed_document_matches_the_code() -> None:
    """Fails when a route or model changed without `users openapi > .../api.yaml`."""
    assert API_YAML.read_text(encoding="utf-8") == openapi_yaml(), (
        "users/api/server/api.yaml is stale: run "
        "`users openapi > services/internal/users/src/users/api/server/api.yaml`"
    )


def fuzz(base_url: str, examples: int) -> tuple[list[str], Counter[tuple[str, int]]]:
    """Run every operation with schema-valid and schema-invalid inputs.

    Returns:
        The failures, and how many responses of each status each operation gave.
    """
    schema = schemathesis.openapi.from_path(str(API_YAML))
    failures: list[str] = []
    statuses: Counter[tuple[str, int]] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(
                max_examples=examples,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(mode))
            def run(case: schemathesis.Case) -> None:
                response = case.call(base_url=base_url, timeout=10)
                statuses[case.operation.label, response.status_code] += 1
                case.validate_response(
                    response, checks=[not_a_server_error, response_schema_conformance]
                )

            try:
                run()
            except Exception as exc:  # noqa: BLE001  (collect every operation's failure)
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    return failures, statuses


@pytest.mark.postgres
@pytest.mark.redis
async def test_no_generated_input_gets_a_server_error(
    db: Database, cache_client: CacheClient, wiring: Wiring
) -> None:
    """schemathesis against api.yaml, served in this process over the real database and Redis."""
    async with AsgiServer(build_app(db, cache_client, wiring), host="127.0.0.1", port=0) as api:
        failures, statuses = await asyncio.to_thread(fuzz, f"http://127.0.0.1:{api.port}", 25)

    assert failures == []
    operations = {label for label, _ in statuses}
    assert len(operations) == 6, operations
    # Both kinds of input reached the API: accepted ones and refused ones.
    assert {code for _, code in statuses} >= {200, 201, 422}, statuses
