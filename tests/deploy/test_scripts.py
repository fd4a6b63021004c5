"""The scripts of deploy/scripts.yaml and the provisioning init containers, run (CI-4, CF-4).

create-db and create-rabbitmq-user run the service image's `svcinfra provision` (issue 17): the
tests take their command and arguments from the rendered manifests and run them here.
"""

import asyncio
import base64
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import ClassVar

import aio_pika
import aiormq.exceptions
import asyncpg
import pytest
from init_containers import init_argv, init_container, run_init
from stack import load_stack

from svcinfra.messaging.contract import load_package_contract
from svcinfra.provision import grant_for_contract, rabbitmq_password_hash
from svcinfra.testing import PrivatePostgres
from svcinfra.testing._rabbitnode import PrivateRabbitNode

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


DEPLOYMENTS = {
    "users": ("users-api", "users-relay"),
    "notifications": ("notifications-consumer", "notifications-relay"),
}


@pytest.mark.parametrize("service", sorted(DEPLOYMENTS))
def test_every_deployment_provisions_through_the_service_images_svcinfra(service):
    """Both Deployments of a service run the same `svcinfra provision` from the service image."""
    expected = {
        "create-db": ["svcinfra", "provision", "postgres"],
        "create-rabbitmq-user": ["svcinfra", "provision", "rabbitmq", "--contract", service],
    }
    if service == "notifications":
        expected["create-rabbitmq-user"] += ["--topology-prefix", "$(CONSUMER_TOPOLOGY_PREFIX)"]
    for deployment in DEPLOYMENTS[service]:
        main = init_container(deployment, "migrate")
        for name, args in expected.items():
            container = init_container(deployment, name)
            assert container["command"] == ["sh", "/scripts/run.sh", f"services/internal/{service}"]
            assert container["args"] == args, (deployment, name)
            assert container["image"] == main["image"], (deployment, name)


def test_no_provisioning_script_is_left_in_the_configmap():
    """One provisioning path: the ConfigMap no longer carries its own copy (issue 17)."""
    assert sorted(SCRIPTS) == ["run.sh", "wait-for-postgres.sh"]


@pytest.mark.parametrize("container", ["create-db", "create-rabbitmq-user"])
def test_provisioning_skips_without_admin_credentials(scripts, container):
    """Where the platform provisions accounts (no admin secret) each step says so and succeeds."""
    argv = init_argv("users-api", container, scripts)
    done = run_init(argv, {"ENV_PREFIX": "USERS_"})
    assert done.returncode == 0, done.stderr
    assert "provisioned elsewhere" in done.stdout


def test_create_db_refuses_missing_service_credentials(scripts):
    """With admin credentials but no ${ENV_PREFIX}POSTGRES_* it fails, naming what is missing."""
    env = {"ENV_PREFIX": "USERS_", "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "x"}
    done = run_init(init_argv("users-api", "create-db", scripts), env)
    assert done.returncode == 1
    assert "USERS_POSTGRES_USER, _PASSWORD, _DB must all be set" in done.stderr


def test_create_db_refuses_an_unknown_sslmode(scripts):
    """A mistyped POSTGRES_SSLMODE is named, not passed on to the driver."""
    env = {
        "ENV_PREFIX": "T_", "POSTGRES_USER": "postgres", "POSTGRES_PASSWORD": "x",
        "POSTGRES_SSLMODE": "verify_full", "T_POSTGRES_USER": "t", "T_POSTGRES_PASSWORD": "p",
        "T_POSTGRES_DB": "t",
    }  # fmt: skip
    done = run_init(init_argv("users-api", "create-db", scripts), env)
    assert done.returncode == 1
    assert "POSTGRES_SSLMODE 'verify_full' is not one of" in done.stderr


def psql(sql: str, port: int = 5432) -> str:
    done = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-tAc",
            sql,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.strip()


def create_db_env(name: str, password: str, port: int = 5432) -> dict[str, str]:
    """What the create-db container gets: shared-config, the service's config and secret, and
    shared-admin, with this machine's server."""
    return {
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(port),
        "POSTGRES_MAINT_DB": "postgres",
        "POSTGRES_SSLMODE": "disable",
        "POSTGRES_USER": "postgres",
        "POSTGRES_PASSWORD": "unused-with-trust-auth",
        "ENV_PREFIX": "T_",
        "T_POSTGRES_USER": name,
        "T_POSTGRES_PASSWORD": password,
        "T_POSTGRES_DB": name,
    }


# Quoting and injection attempts, not a secret.
PASSWORD = 'it\'s a "pass" word; DROP ROLE postgres'  # noqa: S105


@pytest.mark.postgres
def test_create_db_creates_the_role_and_database_idempotently(scripts):
    """As the admin it creates the role (a SCRAM verifier) and its database, twice, silently."""
    name = f"deploytest_{uuid.uuid4().hex[:8]}"
    argv = init_argv("users-api", "create-db", scripts)
    try:
        first = run_init(argv, create_db_env(name, PASSWORD))
        second = run_init(argv, create_db_env(name, PASSWORD))
        assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
        for done in (first, second):
            assert PASSWORD not in done.stdout + done.stderr
            assert f"role {name} and database {name} are ready" in done.stdout
        # name is ours (a uuid's hex digits): no injection in these lookups
        owner = psql(f"SELECT datdba::regrole FROM pg_database WHERE datname = '{name}'")  # noqa: S608
        login = psql(
            "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, left(rolpassword, 19)"  # noqa: S608
            f" FROM pg_authid WHERE rolname = '{name}'"
        )
        public = psql(f"SELECT has_database_privilege('public', '{name}', 'CONNECT')")
        assert (owner, login, public) == (name, "t|f|f|f|SCRAM-SHA-256$4096:", "f")
    finally:
        psql(f'DROP DATABASE IF EXISTS "{name}"')
        psql(f'DROP ROLE IF EXISTS "{name}"')


@pytest.mark.postgres
def test_the_statement_log_holds_the_verifier_never_the_password(scripts):
    """With `log_statement = all` (a private server) the log shows the SCRAM verifier only.

    What `log_statement` logs is the statement text the client sent, which is also what
    `pg_stat_statements` keeps: the password never reaches the server.
    """
    settings = {"log_statement": "'all'", "log_min_duration_statement": "0"}
    with PrivatePostgres(free_ports_in_my_range(1)[0], settings=settings) as pg:
        argv = init_argv("users-api", "create-db", scripts)
        for _ in range(2):  # CREATE ROLE, then ALTER ROLE
            done = run_init(argv, create_db_env("logged", PASSWORD, pg.port))
            assert done.returncode == 0, done.stderr
        log = pg.log_path.read_text(encoding="utf-8", errors="replace")
        assert 'CREATE ROLE "logged" WITH LOGIN PASSWORD \'SCRAM-SHA-256$4096:' in log
        assert 'ALTER ROLE "logged" WITH LOGIN PASSWORD \'SCRAM-SHA-256$4096:' in log
        for fragment in (PASSWORD, 'pass" word', "DROP ROLE postgres"):
            assert fragment not in log
        # The verifier is right: with scram-sha-256 required for the role (this server's own
        # pg_hba.conf), the password logs in and another does not.
        hba = pg.data_dir / "pg_hba.conf"
        hba.write_text(
            "host all logged 127.0.0.1/32 scram-sha-256\n" + hba.read_text(encoding="utf-8"),
            encoding="utf-8",
        )
        psql("SELECT pg_reload_conf()", pg.port)
        assert scram_login(pg.port, PASSWORD) == "logged"
        with pytest.raises(asyncpg.InvalidPasswordError):
            scram_login(pg.port, PASSWORD + "x")


def scram_login(port: int, password: str) -> str:
    """Log in as `logged` to its database with `password`; return current_user."""

    async def login() -> str:
        connection = await asyncpg.connect(
            host="127.0.0.1", port=port, user="logged", password=password,
            database="logged", ssl=False, timeout=10,
        )  # fmt: skip
        try:
            return str(await connection.fetchval("SELECT current_user"))
        finally:
            await connection.close()

    return asyncio.run(login())


class _ManagementApi(http.server.BaseHTTPRequestHandler):
    """Records the calls RabbitMQ's management API would get; answers as it does."""

    calls: ClassVar[list[tuple[str, str, str, object]]] = []
    imported: ClassVar[list[dict[str, str]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.calls.append(("POST", self.path, self.headers["Authorization"], body))
        type(self).imported = body["permissions"]
        self.send_response(204)
        self.end_headers()

    def do_GET(self) -> None:
        self.calls.append(("GET", self.path, self.headers["Authorization"], None))
        data = json.dumps(self.imported).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("service", ["users", "notifications"])
def test_create_rabbitmq_user_posts_a_hash_and_the_contracts_grant(scripts, service):
    """One definitions document: the password's hash (never the password) and exactly the
    permissions derived from the service's contract; then it reads them back."""
    _ManagementApi.calls = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _ManagementApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    prefix = service.upper() + "_"
    env = {
        "ENV_PREFIX": prefix,
        "RABBITMQ_HOST": "127.0.0.1",
        "RABBITMQ_MANAGEMENT_PORT": str(server.server_address[1]),
        "RABBITMQ_ADMIN_USER": "admin",
        "RABBITMQ_ADMIN_PASSWORD": "admin-pw",
        f"{prefix}RABBITMQ_USER": service,
        f"{prefix}RABBITMQ_PASSWORD": "users-pw",
        f"{prefix}RABBITMQ_VHOST": "/",
        "CONSUMER_TOPOLOGY_PREFIX": "",
    }
    try:
        done = run_init(init_argv(f"{service}-relay", "create-rabbitmq-user", scripts), env)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert done.returncode == 0, done.stderr
    assert "pw" not in done.stdout + done.stderr
    basic = "Basic " + base64.b64encode(b"admin:admin-pw").decode()
    (post, get) = _ManagementApi.calls
    assert post[:3] == ("POST", "/api/definitions", basic)
    assert get == ("GET", f"/api/users/{service}/permissions", basic, None)
    document = post[3]
    assert "users-pw" not in json.dumps(document)
    (user,) = document["users"]
    salt = base64.b64decode(user["password_hash"])[:4]
    assert user == {
        "name": service,
        "password_hash": rabbitmq_password_hash("users-pw", salt=salt),
        "hashing_algorithm": "rabbit_password_hashing_sha256",
        "tags": "",
    }
    grant = grant_for_contract(load_package_contract(service))
    assert document["permissions"] == [
        {"user": service, "vhost": "/", "configure": grant.configure, "write": grant.write,
         "read": grant.read}
    ]  # fmt: skip


def test_create_rabbitmq_user_applies_the_topology_prefix(scripts):
    """A dev slot's CONSUMER_TOPOLOGY_PREFIX reaches the grant through $(VAR) in the arguments."""
    _ManagementApi.calls = []
    server = http.server.HTTPServer(("127.0.0.1", 0), _ManagementApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    env = {
        "ENV_PREFIX": "NOTIFICATIONS_",
        "RABBITMQ_HOST": "127.0.0.1",
        "RABBITMQ_MANAGEMENT_PORT": str(server.server_address[1]),
        "RABBITMQ_ADMIN_USER": "admin",
        "RABBITMQ_ADMIN_PASSWORD": "admin-pw",
        "NOTIFICATIONS_RABBITMQ_USER": "notifications",
        "NOTIFICATIONS_RABBITMQ_PASSWORD": "pw",
        "CONSUMER_TOPOLOGY_PREFIX": "slot3",
    }
    try:
        done = run_init(init_argv("notifications-consumer", "create-rabbitmq-user", scripts), env)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert done.returncode == 0, done.stderr
    (permission,) = _ManagementApi.calls[0][3]["permissions"]
    assert permission["vhost"] == "/"
    assert permission["configure"].startswith(r"^(?:slot3\.notifications\.events|")
    assert "(?:users" not in permission["read"]
    assert r"|slot3\.users\.events|" in permission["read"]


class _ManagedNode(PrivateRabbitNode):
    """A private RabbitMQ node with the management plugin on `management_port` (loopback)."""

    def __init__(self, management_port: int, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.management_port = management_port

    def _write_files(self) -> None:
        super()._write_files()
        with (self.dir / "rabbitmq.conf").open("a") as conf:
            conf.write(f"management.tcp.port = {self.management_port}\n")
            conf.write("management.tcp.ip = 127.0.0.1\n")
        (self.dir / "enabled_plugins").write_text("[rabbitmq_management].\n")


def free_ports_in_my_range(count: int, first: int = 17200, last: int = 17399) -> list[int]:
    """`count` consecutive ports of this test's range that nothing listens on now."""
    for start in range(first, last - count + 2):
        if all(port_free(p) for p in range(start, start + count)):
            return list(range(start, start + count))
    raise RuntimeError(f"no {count} free ports in {first}-{last}")


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


async def amqp_login(port: int, user: str, password: str) -> None:
    connection = await aio_pika.connect(f"amqp://{user}:{password}@127.0.0.1:{port}/", timeout=10)
    await connection.close()


@pytest.mark.rabbitmq
def test_create_rabbitmq_user_through_a_real_management_api(scripts, tmp_path):
    """The init containers' command against RabbitMQ 3.10's own management API (a private node):
    the hash logs in, the grants are the contracts', a rotated password replaces the old one."""
    amqp, dist, _, management = free_ports_in_my_range(4)
    name = f"svcinfra-k-{uuid.uuid4().hex[:6]}"
    with _ManagedNode(management, name, amqp, dist, tmp_path) as node:
        for service, password in [("users", "first-pw"), ("notifications", "n-pw"),
                                  ("users", "rotated-pw")]:  # fmt: skip
            prefix = service.upper() + "_"
            env = {
                "ENV_PREFIX": prefix,
                "RABBITMQ_HOST": "127.0.0.1",
                "RABBITMQ_MANAGEMENT_PORT": str(management),
                "RABBITMQ_ADMIN_USER": "guest",
                "RABBITMQ_ADMIN_PASSWORD": "guest",
                f"{prefix}RABBITMQ_USER": service,
                f"{prefix}RABBITMQ_PASSWORD": password,
                "CONSUMER_TOPOLOGY_PREFIX": "",
            }
            argv = init_argv(f"{service}-relay", "create-rabbitmq-user", scripts)
            done = run_init(argv, env)
            assert done.returncode == 0, done.stderr
            assert password not in done.stdout + done.stderr
            asyncio.run(amqp_login(amqp, service, password))
            grant = grant_for_contract(load_package_contract(service))
            rows = node.ctl("list_user_permissions", service).splitlines()
            expected = f"/\t{grant.configure}\t{grant.write}\t{grant.read}"
            assert expected in rows, rows
        with pytest.raises(aiormq.exceptions.ProbableAuthenticationError):
            asyncio.run(amqp_login(amqp, "users", "first-pw"))
