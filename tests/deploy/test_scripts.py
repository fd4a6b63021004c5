"""The scripts of deploy/scripts.yaml, run: reload switching (CI-4) and create-db (CF-4)."""

import base64
import http.server
import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import ClassVar

import pytest
from stack import load_stack

SCRIPTS = load_stack("dev").find("ConfigMap", "service-scripts")["data"]
SERVICE = "services/internal/users"


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    """deploy/scripts.yaml's files, as the pods see them at /scripts."""
    folder = tmp_path / "scripts"
    folder.mkdir()
    for name, body in SCRIPTS.items():
        (folder / name).write_text(body, encoding="utf-8")
    return folder


def run(script: Path, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable] if script.suffix == ".py" else ["sh"]
    return subprocess.run(
        [*command, str(script), *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_each_script_parses(name, scripts):
    """Each script is valid POSIX sh (sh -n) or Python."""
    if name.endswith(".py"):
        compile(SCRIPTS[name], name, "exec")
    else:
        subprocess.run(["sh", "-n", str(scripts / name)], check=True)


@pytest.fixture
def fake_python(tmp_path: Path) -> Path:
    """A `python` that says whether watchfiles imports ($HAS_WATCHFILES) and echoes the rest."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "python"
    fake.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-c" ] && [ "$2" = "import watchfiles" ]; then exit "$HAS_WATCHFILES"; fi\n'
        'echo "python $*"\n',
        encoding="utf-8",
    )
    fake.chmod(0o755)
    return bin_dir


def test_run_sh_runs_the_image_code_without_code_root(scripts, fake_python):
    """Without CODE_ROOT (ai-staging, staging, prod) the command runs as it is, no PYTHONPATH."""
    env = {"PATH": f"{fake_python}:{os.environ['PATH']}", "HAS_WATCHFILES": "0"}
    done = run(
        scripts / "run.sh", "--reload", SERVICE, "sh", "-c", 'echo "ran:${PYTHONPATH:-}"', env=env
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ran:\n"


def test_run_sh_reloads_the_workspace_through_dev_reload(scripts, fake_python, tmp_path):
    """With CODE_ROOT and the sources there (dev, ai), --reload hands over to dev_reload.py."""
    code_root = tmp_path / "workspace"
    (code_root / SERVICE / "src").mkdir(parents=True)
    env = {
        "CODE_ROOT": str(code_root),
        "PATH": f"{fake_python}:{os.environ['PATH']}",
        "HAS_WATCHFILES": "0",
    }
    done = run(scripts / "run.sh", "--reload", SERVICE, "users", "serve", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        f"python {code_root}/scripts/dev_reload.py {SERVICE} users serve"
    )


@pytest.mark.parametrize("reload", [True, False], ids=["no-watchfiles", "no-reload-asked"])
def test_run_sh_runs_the_workspace_sources_first(scripts, fake_python, tmp_path, reload):
    """Without reload the workspace's sources still come first on PYTHONPATH (e.g. migrate)."""
    code_root = tmp_path / "workspace"
    (code_root / SERVICE / "src").mkdir(parents=True)
    env = {
        "CODE_ROOT": str(code_root),
        "PATH": f"{fake_python}:{os.environ['PATH']}",
        "HAS_WATCHFILES": "1",
    }
    flags = ["--reload"] if reload else []
    done = run(scripts / "run.sh", *flags, SERVICE, "sh", "-c", 'echo "path:$PYTHONPATH"', env=env)
    assert done.returncode == 0, done.stderr
    lib = f"{code_root}/libs/python/svcinfra/src"
    assert done.stdout.splitlines()[-1] == f"path:{code_root}/{SERVICE}/src:{lib}"
    assert ("no watchfiles in this image" in done.stderr) is reload


def test_run_sh_falls_back_to_the_image_when_the_workspace_lacks_the_service(scripts, tmp_path):
    """CODE_ROOT set but without the service's sources: the image's code runs."""
    env = {"CODE_ROOT": str(tmp_path)}
    done = run(scripts / "run.sh", SERVICE, "sh", "-c", 'echo "ran:${PYTHONPATH:-}"', env=env)
    assert done.stdout == "ran:\n"


def test_create_db_skips_without_admin_credentials(scripts):
    """Where the platform provisions databases (no admin secret) create-db says so and succeeds."""
    done = run(scripts / "create-db.sh", env={"ENV_PREFIX": "USERS_"})
    assert done.returncode == 0
    assert "provisioned elsewhere" in done.stdout


def test_create_rabbitmq_user_skips_without_admin_credentials(scripts):
    """Likewise for the broker user."""
    done = run(scripts / "create-rabbitmq-user.py", env={"ENV_PREFIX": "USERS_"})
    assert done.returncode == 0
    assert "provisioned elsewhere" in done.stdout


def test_create_db_refuses_missing_service_credentials(scripts):
    """With admin credentials but no ${ENV_PREFIX}POSTGRES_* it fails, naming what is missing."""
    env = {"ENV_PREFIX": "USERS_", "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "x"}
    done = run(scripts / "create-db.sh", env=env)
    assert done.returncode == 1
    assert "USERS_POSTGRES_USER, _PASSWORD and _DB must all be set" in done.stderr


def psql(sql: str) -> str:
    done = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", "postgres", "-tAc", sql],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


@pytest.mark.postgres
def test_create_db_creates_the_role_and_database_idempotently(scripts):
    """As the admin it creates the prefixed role and its database, twice without error, silently."""
    name = f"deploytest_{uuid.uuid4().hex[:8]}"
    password = 'it\'s a "pass" word; DROP ROLE postgres'  # noqa: S105  (quoting, not a secret)
    env = {
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "5432",
        "POSTGRES_MAINT_DB": "postgres",
        "POSTGRES_SSLMODE": "disable",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "unused-with-trust-auth",
        "ENV_PREFIX": "T_",
        "T_POSTGRES_USER": name,
        "T_POSTGRES_PASSWORD": password,
        "T_POSTGRES_DB": name,
    }
    try:
        first = run(scripts / "create-db.sh", env=env)
        second = run(scripts / "create-db.sh", env=env)
        assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
        for done in (first, second):
            assert password not in done.stdout + done.stderr
            assert f"role {name} and database {name} are ready" in done.stdout
        # name is ours (a uuid's hex digits): no injection in these lookups
        owner = psql(f"SELECT datdba::regrole FROM pg_database WHERE datname = '{name}'")  # noqa: S608
        login = psql(
            f"SELECT rolcanlogin, rolpassword IS NOT NULL FROM pg_authid WHERE rolname = '{name}'"  # noqa: S608
        )
        assert (owner, login) == (name, "t|t")
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}"')
        psql(f'DROP ROLE IF EXISTS "{name}"')


class _ManagementApi(http.server.BaseHTTPRequestHandler):
    """Records the PUTs RabbitMQ's management API would get; answers 201 as it does."""

    calls: ClassVar[list[tuple[str, str, dict[str, str]]]] = []

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.calls.append((self.path, self.headers["Authorization"], json.loads(body)))
        self.send_response(201)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_create_rabbitmq_user_puts_the_user_and_its_rights(scripts):
    """It creates the prefixed user and its vhost rights through the management API, as admin."""
    _ManagementApi.calls = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _ManagementApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "ENV_PREFIX": "USERS_",
        "RABBITMQ_HOST": "127.0.0.1",
        "RABBITMQ_MANAGEMENT_PORT": str(server.server_address[1]),
        "RABBITMQ_ADMIN_USER": "admin",
        "RABBITMQ_ADMIN_PASSWORD": "admin-pw",
        "USERS_RABBITMQ_USER": "users",
        "USERS_RABBITMQ_PASSWORD": "users-pw",
        "USERS_RABBITMQ_VHOST": "/",
    }
    try:
        done = run(scripts / "create-rabbitmq-user.py", env=env)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert done.returncode == 0, done.stderr
    assert "pw" not in done.stdout + done.stderr
    basic = "Basic " + base64.b64encode(b"admin:admin-pw").decode()
    assert _ManagementApi.calls == [
        ("/api/users/users", basic, {"password": "users-pw", "tags": ""}),
        ("/api/permissions/%2F/users", basic, {"configure": ".*", "write": ".*", "read": ".*"}),
    ]
