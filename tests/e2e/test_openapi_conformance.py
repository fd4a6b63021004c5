"""The committed OpenAPI documents are what the running servers do (#15), checked by schemathesis.

The users API and fake-mail's API, each started by the stack launcher as `make run` starts them
(on this session's own databases, vhost and free ports), get schemathesis with every check, in
every phase (examples, coverage, fuzzing, stateful), 200 examples per operation: a schema-valid
request the server refuses, a schema-invalid one it takes, an answer or status the document does
not list, a wrong `Allow`, a 5xx, an ignored credential fail the test. The hooks
(tests/e2e/openapi_conformance/hooks.py) name the two things a schema cannot say.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

if TYPE_CHECKING:
    from devstack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.rabbitmq]

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = Path(__file__).resolve().parent / "openapi_conformance"
USERS_API = ROOT / "services/internal/users/src/users/api/server/api.yaml"
FAKE_MAIL_API = ROOT / "services/dev/fake-mail/src/fake_mail/api/server/api.yaml"
# The stateful phase ran scenarios (it is skipped, "not applicable", without links to follow).
STATEFUL_RAN = re.compile(r"Stateful \(in [0-9.]+s\)\s+Scenarios:\s+[1-9]")


def schemathesis(config: str, document: Path, url: str, env: dict[str, str]) -> str:
    """Run the schemathesis CLI over `document` against `url`; return its report on success."""
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--no-color",
        "--config-file",
        str(CONFIGS / config),
        "run",
        str(document),
        "--url",
        url,
        "--checks",
        "all",
        "--phases",
        "examples,coverage,fuzzing,stateful",
        "--max-examples",
        "200",
        "--request-timeout",
        "10",
        "--seed",
        os.environ.get("SCHEMATHESIS_SEED", "15"),  # reproducible; another seed by hand
    ]
    result = subprocess.run(
        command,
        cwd=ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    return report


@pytest.mark.timeout(360)
def test_the_users_api_does_what_its_document_says(stack: Stack) -> None:
    report = schemathesis("users.toml", USERS_API, stack.users_api_url, {})

    assert "6 selected / 6 total" in report, report
    assert STATEFUL_RAN.search(report), report


@pytest.mark.timeout(360)
def test_fake_mails_api_does_what_its_document_says(stack: Stack) -> None:
    key = stack.secrets["FAKE_MAIL_API_KEY"]
    try:
        report = schemathesis(
            "fake-mail.toml", FAKE_MAIL_API, stack.fake_mail_url, {"FAKE_MAIL_API_KEY": key}
        )
    finally:  # the other e2e tests start from an empty record and no fault
        for path in ("/v1/faults", "/v1/messages"):
            url = stack.fake_mail_url + path
            httpx.delete(url, headers=stack.fake_mail_headers, timeout=10).raise_for_status()

    assert "6 selected / 6 total" in report, report
    assert STATEFUL_RAN.search(report), report  # through the document's links
    assert key not in report
