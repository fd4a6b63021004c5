"""The OpenAPI document: committed, in step with the code, stating the rules the API enforces."""

from __future__ import annotations

import re
from importlib.resources import files

import pytest
import yaml
from fake_mail.domain.faults import ERROR_STATUSES, RATE_LIMITED
from fake_mail.transport.http import openapi_yaml
from fake_mail.transport.http.api import IDEMPOTENCY_KEY
from fake_mail.transport.http.schemas import FaultsIn
from pydantic import ValidationError

API_YAML = files("fake_mail.api.server") / "api.yaml"


def test_the_committed_document_matches_the_code() -> None:
    """Fails when a route or model changed without `fake-mail openapi > .../api.yaml`."""
    assert API_YAML.read_text(encoding="utf-8") == openapi_yaml(), (
        "fake_mail/api/server/api.yaml is stale: run "
        "`fake-mail openapi > services/dev/fake-mail/src/fake_mail/api/server/api.yaml`"
    )


def test_the_document_states_the_domains_statuses_and_the_key_rule() -> None:
    document = yaml.safe_load(API_YAML.read_text(encoding="utf-8"))
    schemas = document["components"]["schemas"]
    send = document["paths"]["/v1/messages"]["post"]
    (key,) = send["parameters"]

    assert schemas["FaultsIn"]["properties"]["error_status"]["enum"] == sorted(ERROR_STATUSES)
    step_status = schemas["ScriptStepIn"]["properties"]["status"]["anyOf"][0]["enum"]
    assert step_status == sorted(ERROR_STATUSES | {RATE_LIMITED})
    assert {str(status) for status in ERROR_STATUSES | {RATE_LIMITED}} <= set(send["responses"])
    assert key["schema"]["pattern"] == IDEMPOTENCY_KEY.pattern
    # Surrounding spaces are stripped from header values on the way in: no key may have them.
    for value in (" k", "k ", " ", "", "k" * 256, "caf\u00e9"):
        assert not re.fullmatch(key["schema"]["pattern"], value), value
    for value in ("k", "a b", "k" * 255, "~!"):
        assert re.fullmatch(key["schema"]["pattern"], value), value


def test_an_integer_written_with_a_zero_fraction_is_an_integer_as_the_document_says() -> None:
    """JSON Schema's integer is 265.0 too; strict pydantic alone refused it (schemathesis found)."""
    body = '{"retry_after": 5.0, "error_status": 502.0, "seed": 1e3,'
    body += ' "script": [{"status": 429.0, "retry_after": 265.0}]}'
    faults = FaultsIn.model_validate_json(body).to_domain()

    assert (faults.retry_after, faults.error_status, faults.seed) == (5, 502, 1000)
    assert faults.script[0].as_dict() == {"status": 429, "retry_after": 265}
    for bad in ('{"retry_after": 5.5}', '{"retry_after": true}', '{"seed": "1"}'):
        with pytest.raises(ValidationError):
            FaultsIn.model_validate_json(bad)
