"""The committed alert rules in a real Prometheus, scraping the stack `make run` starts (issue 21).

Debian's Prometheus runs on a private port and data directory, scrapes every process each
second (the `service` label as the Kubernetes scrape adds it from `app.kubernetes.io/part-of`)
and evaluates deploy/observability's rule files each second. A welcome email that fake-mail
rejects dead-letters the event: DeadLetterQueueNotEmpty fires; `svcinfra dlq replay` (with the
fault gone) empties the DLQ: the alert resolves. The consumer samples queue depths every 15 s,
so each step takes up to that long.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
import yaml
from devstack._plan import ROLES
from stack_kit import eventually, mails_to, new_user, register

from svcinfra.testing import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

    from devstack import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.redis, pytest.mark.rabbitmq]

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "observability"
DLQ = "notifications.user-registered.dlq"
ALERT = "DeadLetterQueueNotEmpty"
STEP = 40.0  # one depth sample (15 s), a scrape and an evaluation, on a loaded machine


def prometheus_config(stack: Stack) -> dict[str, Any]:
    """Scrape every process of `stack` each second, labelled with its service."""
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in sorted(RULES.glob("*.rules.yaml"))],
        "scrape_configs": [
            {
                "job_name": name,
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{process.tech_port}"],
                        "labels": {"service": ROLES[name].service},
                    }
                ],
            }
            for name, process in sorted(stack.processes.items())
        ],
    }


@pytest.fixture
def prometheus(stack: Stack, tmp_path: Path) -> Iterator[str]:
    """A private Prometheus scraping the stack; its base URL. Stopped and removed at the end."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("prometheus is not installed: `scripts/infra.sh up` (as root) installs it")
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(prometheus_config(stack)), encoding="utf-8")
    port = free_port()
    log_path = tmp_path / "prometheus.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while not _ready(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"prometheus did not start:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _ready(url: str) -> bool:
    try:
        return httpx.get(f"{url}/-/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


async def dlq_alerts(http: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    """The DeadLetterQueueNotEmpty alerts of the stack's DLQ, pending or firing."""
    response = await http.get(f"{url}/api/v1/alerts")
    response.raise_for_status()
    return [
        alert
        for alert in response.json()["data"]["alerts"]
        if alert["labels"].get("alertname") == ALERT and alert["labels"].get("queue") == DLQ
    ]


async def dlq_depth(http: httpx.AsyncClient, url: str) -> list[float]:
    """What Prometheus holds now for the DLQ's depth (empty until the first sample is scraped)."""
    query = f'svcinfra_amqp_queue_messages{{service="notifications",queue="{DLQ}"}}'
    response = await http.get(f"{url}/api/v1/query", params={"query": query})
    response.raise_for_status()
    return [float(r["value"][1]) for r in response.json()["data"]["result"]]


def dlq_command(stack: Stack, *args: str) -> str:
    """Run `svcinfra dlq ARGS` against the stack's broker, as an operator would; its stdout."""
    svcinfra = Path(sys.executable).with_name("svcinfra")
    env = {**os.environ, "SVCINFRA_AMQP_URL": stack.amqp_admin_url}
    done = subprocess.run(
        [str(svcinfra), "dlq", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_dead_letter_fires_the_dlq_alert_and_replay_resolves_it(
    stack: Stack, prometheus: str, http: httpx.AsyncClient, faults: None
) -> None:
    """A dead-lettered event fires DeadLetterQueueNotEmpty; `svcinfra dlq replay` resolves it."""
    del faults
    dlq_command(stack, "purge", "notifications", DLQ, "--yes")  # another test's leftovers
    await eventually(
        lambda: dlq_depth(http, prometheus), lambda d: d == [0.0], "an empty DLQ", timeout=STEP
    )
    assert await dlq_alerts(http, prometheus) == []

    registration = new_user()
    email = registration["email"]
    response = await http.put(
        f"{stack.fake_mail_url}/v1/faults",
        json={"reject": [email]},
        headers=stack.fake_mail_headers,
    )
    response.raise_for_status()
    await register(http, stack.users_api_url, registration)
    (alert,) = await eventually(
        lambda: dlq_alerts(http, prometheus),
        lambda alerts: [a["state"] for a in alerts] == ["firing"],
        f"{ALERT} firing",
        timeout=STEP,
    )
    assert alert["labels"] == {
        "alertname": ALERT,
        "queue": DLQ,
        "service": "notifications",
        "severity": "warning",
    }
    assert "svcinfra dlq replay" in alert["annotations"]["description"]

    await http.delete(f"{stack.fake_mail_url}/v1/faults", headers=stack.fake_mail_headers)
    assert "replayed 1, failed 0" in dlq_command(stack, "replay", "notifications", DLQ)
    await eventually(
        lambda: dlq_alerts(http, prometheus), lambda a: a == [], f"{ALERT} resolved", timeout=STEP
    )
    assert len(await mails_to(http, stack, email)) == 1  # the replayed event was processed
