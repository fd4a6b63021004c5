"""CI-1, CI-2, CI-3, CI-6: Dockerfiles, pinned images, services.yaml as the source of truth.

services.yaml is codexctl's (a Go template over YAML): template expressions sit in quoted
strings and `# {{ ... }}` comment lines, so the file is read as YAML without rendering it.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

import yaml

from svcinfra.check.adapters import compose, line_of, scalars
from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult

if TYPE_CHECKING:
    from collections.abc import Iterator

    from svcinfra.check.adapters import Repo, Service

SERVICES_YAML: Final = "services.yaml"
_FROM: Final = re.compile(
    r"^\s*FROM\s+(?:--\S+\s+)*(?P<image>\S+)(?:\s+AS\s+(?P<stage>\S+))?", re.IGNORECASE
)
_ARG: Final = re.compile(r"^\s*ARG\s+(?P<name>\w+)(?:=(?P<value>\S*))?", re.IGNORECASE)
_VAR: Final = re.compile(r"\$\{?(\w+)(?::?-[^}]*)?\}?")
_ENV_EQ: Final = re.compile(r"eq\s+\.Env\s+\"([^\"]+)\"")
_NOT_DEV: Final = frozenset({"prod", "production", "staging"})


def _document(repo: Repo) -> tuple[Any, yaml.Node | None, str | None]:
    """services.yaml as (data, node tree, error); (None, None, None) when there is none."""
    key = ("services.yaml", "")
    if key not in repo.memo:
        path = repo.root / SERVICES_YAML
        value: tuple[Any, yaml.Node | None, str | None] = (None, None, None)
        if path.is_file():
            text = repo.text(path) or ""
            try:
                value = (yaml.safe_load(text), compose(text), None)
            except yaml.YAMLError as exc:
                mark = getattr(exc, "problem_mark", None)
                where = f"line {mark.line + 1}: " if mark else ""
                value = (None, None, f"{where}{getattr(exc, 'problem', exc)}")
        repo.memo[key] = value
    return repo.memo[key]  # type: ignore[return-value]


def _entries(data: Any) -> list[tuple[int, dict[str, Any]]]:  # noqa: ANN401  (parsed YAML)
    services = data.get("services") if isinstance(data, dict) else None
    if not isinstance(services, list):
        return []
    return [(i, entry) for i, entry in enumerate(services) if isinstance(entry, dict)]


def _entry_paths(entry: dict[str, Any], data: Any) -> list[str]:  # noqa: ANN401  (parsed YAML)
    paths = [m.get("path") for m in entry.get("manifests") or [] if isinstance(m, dict)]
    images = data.get("images") if isinstance(data, dict) else None
    image = images.get(entry.get("name")) if isinstance(images, dict) else None
    if isinstance(image, dict):
        paths.append(image.get("dockerfile"))
    return [p for p in paths if isinstance(p, str) and "{{" not in p]


def _declares(service: Service, data: Any) -> int | None:  # noqa: ANN401  (parsed YAML)
    for index, entry in _entries(data):
        if entry.get("name") == service.name or any(
            p == service.rel or p.startswith(service.rel + "/") for p in _entry_paths(entry, data)
        ):
            return index
    return None


class Dockerfiles(Rule):
    """Every service folder has a Dockerfile."""

    info = RuleInfo(
        rule="CI-1",
        check="service-dockerfile",
        summary="Every services/<zone>/<name>/ folder has a Dockerfile.",
        fix="Add a multi-stage Dockerfile (pinned base, non-root user, hash-pinned installs) as "
        "the reference services have.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Look for the Dockerfile of each service."""
        findings = [
            self.finding(service.rel, 0, f"service {service.name} has no Dockerfile")
            for service in repo.services
            if not (service.root / "Dockerfile").is_file()
        ]
        return self.result(findings, len(repo.services))


class PinnedImages(Rule):
    """Base images and deployed images carry a version, never `latest`."""

    info = RuleInfo(
        rule="CI-2",
        check="pinned-images",
        summary="Dockerfile base images are pinned (a tag other than latest, or a digest); "
        "services.yaml never uses a latest tag.",
        fix="Pin FROM python:3.12.7-slim-bookworm (or @sha256:...); tag images with the version "
        "and commit sha in services.yaml.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Read every Dockerfile's FROM lines and every scalar of services.yaml."""
        findings: list[Finding] = []
        checked = 0
        for path in repo.files():
            if path.name == "Dockerfile" or path.name.endswith(".Dockerfile"):
                checked += 1
                findings.extend(self._dockerfile(repo.rel(path), repo.text(path) or ""))
        _, root, _ = _document(repo)
        for where, value, line in scalars(root):
            last = where.rsplit(".", 1)[-1]
            if ":latest" in value or (value == "latest" and last in {"tag", "tagTemplate"}):
                findings.append(
                    self.finding(SERVICES_YAML, line, f"{where} uses the latest tag: {value!r}")
                )
        return self.result(findings, checked)

    def _dockerfile(self, rel: str, text: str) -> Iterator[Finding]:
        args: dict[str, str] = {}
        stages: set[str] = set()
        for number, line in enumerate(text.splitlines(), start=1):
            arg = _ARG.match(line)
            if arg and arg.group("value"):
                args[arg.group("name")] = arg.group("value").strip("\"'")
            match = _FROM.match(line)
            if match is None:
                continue
            image = _VAR.sub(
                lambda m: args.get(m.group(1), "${" + m.group(1) + "}"), match.group("image")
            )
            if match.group("stage"):
                stages.add(match.group("stage").lower())
            problem = _unpinned(image, stages)
            if problem:
                yield self.finding(rel, number, f"base image {image} {problem}")


def _unpinned(image: str, stages: set[str]) -> str | None:
    if image.lower() in stages or image == "scratch" or "@sha256:" in image or "${" in image:
        return None
    name = image.rsplit("/", 1)[-1]
    if ":" not in name:
        return "has no tag (it means latest)"
    if name.rsplit(":", 1)[1] == "latest":
        return "uses the latest tag"
    return None


class ServicesDeclared(Rule):
    """services.yaml and the services/ tree describe the same services."""

    info = RuleInfo(
        rule="CI-3",
        check="services-yaml",
        summary="A repository with services has services.yaml at its root; every service folder "
        "is declared there and every declared service (and manifest) exists.",
        fix="Add the service to services.yaml (name, manifests, image), or remove the entry of "
        "a service that no longer exists.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Compare services.yaml with the folders under services/."""
        data, root, error = _document(repo)
        services = repo.services
        if error is not None:
            return self.result([self.finding(SERVICES_YAML, 1, f"invalid YAML: {error}")], 1)
        if data is None:
            findings = (
                [self.finding(SERVICES_YAML, 0, "services/ exists but services.yaml does not")]
                if services
                else []
            )
            return self.result(findings, 0)
        findings = [
            self.finding(service.rel, 0, f"service {service.name} is not declared in services.yaml")
            for service in services
            if _declares(service, data) is None
        ]
        names = {service.name for service in services}
        for index, entry in _entries(data):
            line = line_of(root, f"$.services[{index}]")
            paths = _entry_paths(entry, data)
            if entry.get("name") not in names and not any((repo.root / p).exists() for p in paths):
                findings.append(
                    self.finding(
                        SERVICES_YAML,
                        line,
                        f"declared service {entry.get('name')!r} has no folder under services/",
                    )
                )
            findings.extend(
                self.finding(SERVICES_YAML, line, f"{entry.get('name')}: {p} does not exist")
                for p in paths
                if not (repo.root / p).exists()
            )
        return self.result(findings, len(services))


class DevServicesStayInDev(Rule):
    """services/dev/* are deployed only to dev-like environments."""

    info = RuleInfo(
        rule="CI-6",
        check="dev-services-only-in-dev",
        summary="Every services/dev/* entry of services.yaml has a `when:` that enables it only "
        'in named dev-like environments (eq .Env "dev" ...), never prod or staging.',
        fix='Add when: \'{{ or (eq .Env "dev") (eq .Env "ai") }}\' to the entry.',
    )

    def check(self, repo: Repo) -> RuleResult:
        """Read the `when:` of each dev service's entry."""
        data, root, _ = _document(repo)
        findings: list[Finding] = []
        dev = [s for s in repo.services if s.zone == "dev"]
        for service in dev:
            index = _declares(service, data)
            if index is None:
                continue  # CI-3 reports it
            entry = _entries(data)[[i for i, _ in _entries(data)].index(index)][1]
            line = line_of(root, f"$.services[{index}]")
            when = entry.get("when")
            envs = set(_ENV_EQ.findall(when)) if isinstance(when, str) else set()
            if not envs or " ne " in f" {when} " or "not " in str(when):
                findings.append(
                    self.finding(
                        SERVICES_YAML,
                        line,
                        f"dev service {service.name} has no when: naming the dev environments "
                        "it runs in",
                    )
                )
            elif envs & _NOT_DEV:
                findings.append(
                    self.finding(
                        SERVICES_YAML,
                        line,
                        f"dev service {service.name} is enabled in "
                        f"{', '.join(sorted(envs & _NOT_DEV))}",
                    )
                )
        return self.result(findings, len(dev))
