"""`svcinfra new service`: a service with every part, generated into a copy of this repository.

The copy is the repository's files as they are now (committed there, since copier renders a
git template at a commit). In it the generated service passes its own tests against the real
servers, lint and mypy, `svcinfra check` with zero findings, and the deploy tests that render
services.yaml with it and validate its manifests, and `make run`'s launcher (the copy's
tools/devstack) provisions and starts it beside fake-mail; `copier update` then brings a later
template change to a service generated from an older template commit.

Slow by nature (a copier render, the service's 17 tests, lint and mypy, the check, the deploy
tests and the launcher, each a process: 4-6 minutes on the loaded two-core machine it was
written on): it is the one test of the whole path a team takes.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import asyncpg
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
NAME = "demo-notes"
FOLDER = Path("services/internal") / NAME
PARTS = "postgres,redis,publish,consume,http-api,external-api"
DB = "postgresql://postgres@127.0.0.1:5432/postgres"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.rabbitmq,
    pytest.mark.timeout(900),  # a subprocess each, on a shared two-core machine
]


def run(argv: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv,
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, **env},
    )
    assert result.returncode == 0, f"{argv}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return result


def git(cwd: Path, *args: str) -> str:
    return run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd).stdout


def copy_repository(target: Path) -> Path:
    """The repository's tracked and new files (not the ignored ones), committed in `target`."""
    listed = run(["git", "ls-files", "-z", "-co", "--exclude-standard"], ROOT).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    git(target, "init", "-q")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "copy")
    return target


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the repository with `svcinfra new service demo-notes --with <every part>`."""
    target = copy_repository(tmp_path_factory.mktemp("repo"))
    result = run([str(BIN / "svcinfra"), "new", "service", NAME, "--with", PARTS], target)
    assert f"created {FOLDER}" in result.stdout
    return target


def test_the_service_is_in_the_reference_layout(repo: Path) -> None:
    folder = repo / FOLDER
    for name in (
        ".copier-answers.yml",
        ".env.example",
        "Dockerfile",
        "deploy.yaml",
        "deploy-consumer.yaml",
        "deploy-relay.yaml",
        "deploy/configmap.yaml",
        "deploy/secret.yaml",
        "network-policies.yaml",
        "src/demo_notes/api/server/asyncapi.yaml",
        "src/demo_notes/repository/postgres/notes/sql/get_by_id.sql",
    ):
        assert (folder / name).is_file(), name
    migrations = sorted(p.name for p in (folder / "src/demo_notes/cli/migrations").iterdir())
    assert any(name.endswith("_svcinfra_outbox.sql") for name in migrations)
    assert any(name.endswith("_svcinfra_inbox.sql") for name in migrations)
    answers = yaml.safe_load((folder / ".copier-answers.yml").read_text())
    assert answers["_commit"] == git(repo, "rev-parse", "HEAD").strip()[: len(answers["_commit"])]
    assert answers["parts"] == PARTS.split(",")
    # The one Dockerfile template: what `svcinfra new dockerfile --check` compares with.
    run([str(BIN / "svcinfra"), "new", "dockerfile", "--check", str(FOLDER)], repo)
    # .env.example and the ConfigMap and Secret are what `svcinfra env` generates (CF-4).
    for command in ("example", "manifests"):
        run([str(BIN / "svcinfra"), "env", command, str(FOLDER), "--check"], repo)
    services = (repo / "services.yaml").read_text()
    for entry in ("demo-notes-api", "demo-notes-consumer", "demo-notes-relay"):
        assert f"  - name: {entry}\n" in services


def test_its_own_tests_pass_against_the_real_servers(repo: Path) -> None:
    result = run(
        [str(BIN / "pytest"), "-q", "-p", "no:cacheprovider", str(FOLDER)],
        repo,
        PYTHONPATH=str(repo / FOLDER / "src"),
    )
    assert " passed" in result.stdout
    assert "skipped" not in result.stdout


def test_it_is_lint_and_type_clean(repo: Path) -> None:
    run([str(BIN / "ruff"), "check", str(FOLDER)], repo)
    run([str(BIN / "ruff"), "format", "--check", str(FOLDER)], repo)
    run([str(BIN / "mypy"), str(FOLDER / "src")], repo)


def test_svcinfra_check_finds_nothing(repo: Path) -> None:
    result = run(
        [str(BIN / "svcinfra"), "check", ".", "--db", DB],
        repo,
        PYTHONPATH=str(repo / FOLDER / "src"),
    )
    assert "no findings" in result.stdout + result.stderr


def test_the_deploy_tests_pass_with_it(repo: Path) -> None:
    """services.yaml rendered per environment with the service, its manifests validated."""
    result = run(
        [
            str(BIN / "pytest"),
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/deploy/test_services_yaml.py",
            "tests/deploy/test_network_policies.py",
            "tests/deploy/test_manifests.py",
            # dev renders every entry (the dev-only ones too); the checks' own "bites" tests
            # (which break reference manifests on purpose) say nothing about this service.
            "-k",
            "dev and not bites and not broken",
        ],
        repo,
        PYTHONPATH=str(repo / FOLDER / "src"),
    )
    assert " passed" in result.stdout
    assert "failed" not in result.stdout


LISTED = re.compile(
    r"^\s+(?P<name>[a-z0-9-]+)\s+pid (?P<pid>\d+)\s+tech (?P<tech>http://\S+)"
    r"(?:\s+api (?P<api>http://\S+))?",
    re.MULTILINE,
)
READY_LINE = "Ctrl-C stops everything."
PROCESSES = {"demo-notes-api", "demo-notes-relay", "demo-notes-consumer", "fake-mail"}


def devstack(repo: Path, code: str) -> object:
    """The value of the expression `code` with the copy's launcher imported as `devstack`."""
    script = f"import json, devstack, devstack._plan\nprint(json.dumps({code}))"
    result = run([sys.executable, "-c", script], repo, PYTHONPATH=str(repo / "tools"))
    return json.loads(result.stdout)


def request(method: str, url: str, body: object = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    call = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    with urllib.request.urlopen(call, timeout=10) as response:  # noqa: S310  (loopback)
        return int(response.status), json.loads(response.read())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def receipt(dsn: str, note_id: str) -> bool:
    connection = await asyncpg.connect(dsn)
    try:
        row = await connection.fetchval(
            "SELECT 1 FROM receipts WHERE note_id = $1", uuid.UUID(note_id)
        )
    finally:
        await connection.close()
    return bool(row == 1)


async def leftovers(run_id: str) -> list[str]:
    connection = await asyncpg.connect(DB)
    try:
        rows = await connection.fetch(
            "SELECT datname AS name FROM pg_database WHERE datname LIKE $1"
            " UNION ALL SELECT rolname FROM pg_roles WHERE rolname LIKE $1",
            f"%{run_id}",
        )
    finally:
        await connection.close()
    return [row["name"] for row in rows]


def test_the_launcher_plans_it_on_fixed_ports(repo: Path) -> None:
    """`make run` derives its processes from the service folders: the generated service's
    three processes join the reference ones, on the next fixed ports; the reference services
    keep the ports the docs show."""
    ports = devstack(repo, "{r.name: devstack.Ports().first(r) for r in devstack.ROLES.values()}")
    assert isinstance(ports, dict)
    assert set(ports) >= PROCESSES | {"users-api", "users-relay", "notifications-consumer"}
    assert ports["users-api"] == [8081, 8080]
    assert ports["fake-mail"] == [8091, 8090]
    assert ports["demo-notes-api"] == [8101, 8100]
    assert ports["demo-notes-relay"] == [8102, None]
    assert ports["demo-notes-consumer"] == [8103, None]


def test_make_run_starts_it(repo: Path, tmp_path: Path) -> None:
    """`make run`'s launcher in the copy provisions the generated service (its role and
    database, its broker user with its contract's grant) and starts its API, relay and
    consumer: ready, a note posted goes through the outbox, the broker and the consumer;
    SIGINT stops every process and drops everything the run created."""
    run_id = f"newsvc{uuid.uuid4().hex[:10]}"
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    command = [sys.executable, "-m", "devstack", "run", "--run-id", run_id, "--free-ports"]
    command += ["--service", NAME, "--log-dir", str(tmp_path / "logs")]
    env = os.environ | {"PYTHONPATH": str(repo / "tools")}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        launcher = subprocess.Popen(command, cwd=repo, env=env, stdout=stdout, stderr=stderr)
    listed: dict[str, re.Match[str]] = {}
    try:
        deadline = time.monotonic() + 180
        while READY_LINE not in out.read_text():
            if launcher.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the launcher is not ready ({launcher.poll()}):\n{err.read_text()}")
            time.sleep(0.2)
        listed = {m["name"]: m for m in LISTED.finditer(out.read_text())}
        assert set(listed) == PROCESSES
        for match in listed.values():
            assert request("GET", f"{match['tech']}/health/readyz")[0] == 200, match["name"]
        api = listed["demo-notes-api"]["api"]
        status, note = request("POST", f"{api}/v1/notes", {"text": "from make run"})
        assert status == 201
        assert isinstance(note, dict)
        assert request("GET", f"{api}/v1/notes/{note['id']}") == (200, note)
        # The consumer records the note.created.v1 the relay published (the inbox, MQ-3).
        dsn = f"postgresql://postgres@127.0.0.1:5432/demo_notes_{run_id}"
        deadline = time.monotonic() + 60
        while not asyncio.run(receipt(dsn, note["id"])):
            assert time.monotonic() < deadline, "the consumer recorded no receipt"
            time.sleep(0.2)

        launcher.send_signal(signal.SIGINT)
        assert launcher.wait(timeout=90) == 0, err.read_text()
    finally:
        if launcher.poll() is None:  # the test failed: leave nothing behind
            launcher.kill()
            launcher.wait()
            for match in listed.values():
                if alive(int(match["pid"])):
                    os.kill(int(match["pid"]), signal.SIGKILL)
            teardown = f"devstack.Stack(run_id={run_id!r}, services=[{NAME!r}]).teardown()"
            run(
                [sys.executable, "-c", f"import devstack; {teardown}"],
                repo,
                PYTHONPATH=str(repo / "tools"),
            )

    assert not [name for name, m in listed.items() if alive(int(m["pid"]))]
    stopped = err.read_text()
    assert "stopped: " in stopped
    assert all(f"{name} 0" in stopped for name in PROCESSES), stopped
    assert asyncio.run(leftovers(run_id)) == []
    listings = [  # side by side: rabbitmqctl takes seconds to start
        subprocess.Popen(["rabbitmqctl", "-s", what], stdout=subprocess.PIPE, text=True)
        for what in ("list_vhosts", "list_users")
    ]
    for listing in listings:
        names, _ = listing.communicate(timeout=120)
        assert listing.returncode == 0
        assert run_id not in names


def test_copier_update_brings_a_later_template_change(tmp_path: Path) -> None:
    """A service generated from an older template commit updates cleanly: the template's new
    lines arrive, the team's own edits stay, nothing conflicts (`copier update`)."""
    template = tmp_path / "template"
    listed = run(["git", "ls-files", "-z", "-co", "--exclude-standard"], ROOT).stdout
    for name in filter(None, listed.split("\0")):
        if name == "copier.yml" or name.startswith("templates/service/"):
            (template / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, template / name)
    git(template, "init", "-q")
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", "v1")
    git(template, "tag", "v1")

    service = tmp_path / "service"
    service.mkdir()
    copier = str(BIN / "copier")
    data = ["-d", "name=billing", "-d", 'parts=["postgres", "http-api"]']
    run([copier, "copy", "-q", "--defaults", "--vcs-ref", "v1", *data, str(template), "."], service)
    assert yaml.safe_load((service / ".copier-answers.yml").read_text())["_commit"] == "v1"
    git(service, "init", "-q")
    # The team's own change, in a file the template also changes below.
    readme = service / "README.md"
    readme.write_text(readme.read_text() + "\nOwned by the billing team.\n")
    git(service, "add", "-A")
    git(service, "commit", "-q", "-m", "generated, then edited")

    # A template improvement: a new line in the Dockerfile of every service, and a new file.
    dockerfile = template / "templates/service/Dockerfile.jinja"
    dockerfile.write_text(
        dockerfile.read_text().replace(
            "ARG DEBIAN_RELEASE=bookworm\n",
            "ARG DEBIAN_RELEASE=bookworm\n# Improved by template v2.\n",
        )
    )
    (template / "templates/service/CHANGELOG.md.jinja").write_text("# [[ name ]]\n")
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", "v2")
    git(template, "tag", "v2")

    run([copier, "update", "-q", "--defaults", "--vcs-ref", "v2"], service)

    assert "# Improved by template v2.\n" in (service / "Dockerfile").read_text()
    assert (service / "CHANGELOG.md").read_text() == "# billing\n"
    assert "Owned by the billing team." in readme.read_text()
    assert yaml.safe_load((service / ".copier-answers.yml").read_text())["_commit"] == "v2"
    assert not list(service.rglob("*.rej"))
    assert "<<<<<<<" not in (service / "Dockerfile").read_text() + readme.read_text()


COMBINATIONS = {
    "z": "http-api",
    "orders": "postgres,http-api",
    "a-very-long-name-abcdefgh": "consume,postgres",
    "alpha": "redis,http-api,external-api",
    "zeta-orders": "postgres,publish,http-api",
}


def test_every_combination_of_parts_renders_lint_clean(tmp_path: Path) -> None:
    """The template's output passes ruff and its formatter whatever the parts and the name's
    length (up to the longest name `svcinfra new` accepts): a generated service is committed
    as rendered, so that `copier update` merges cleanly."""
    template = tmp_path / "template"
    listed = run(["git", "ls-files", "-z", "-co", "--exclude-standard"], ROOT).stdout
    for name in filter(None, listed.split("\0")):
        if name == "copier.yml" or name.startswith("templates/service/"):
            (template / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, template / name)
    out = tmp_path / "out"
    (out / "services/internal").mkdir(parents=True)
    shutil.copy2(ROOT / "pyproject.toml", out / "pyproject.toml")
    for name, parts in COMBINATIONS.items():
        data = ["-d", f"name={name}", "-d", f"parts={parts.split(',')!r}".replace("'", '"')]
        target = out / "services/internal" / name
        run(
            [str(BIN / "copier"), "copy", "-q", "--defaults", *data, str(template), str(target)],
            out,
        )
        assert (target / "pyproject.toml").is_file()
    run([str(BIN / "ruff"), "check", "services"], out)
    run([str(BIN / "ruff"), "format", "--check", "services"], out)
