"""CF-2, CF-4, CF-6: no committed secrets, prefixed credentials, one Config reading the env."""

from __future__ import annotations

import ast
import math
import re
from collections import Counter
from typing import TYPE_CHECKING, Final

from svcinfra.check.adapters import dotted, modules
from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult
from svcinfra.config import looks_secret

from ._repository import uses_postgres

if TYPE_CHECKING:
    from collections.abc import Iterator

    from svcinfra.check.adapters import Repo, Service

_TOKENS: Final = (
    ("an AWS access key id", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "a GitHub token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})"),
    ),
    ("a Slack token", re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    ("a Stripe live key", re.compile(r"\b[sr]k_live_[A-Za-z0-9]{20,}")),
    ("a Google API key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("a private key", re.compile(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----")),
)
_DSN: Final = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/?#@'\"]+:(?P<password>[^\s/@'\"]+)@")
_ASSIGNMENT: Final = re.compile(
    r"^\s*(?:export\s+)?[\"']?(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)[\"']?\s*[:=]\s*"
    r"[\"']?(?P<value>[^\s\"'#]+)"
)
_TEXT_SUFFIXES: Final = (".py", ".yaml", ".yml", ".toml", ".json", ".ini", ".cfg", ".sh", ".sql")
_PLACEHOLDER: Final = re.compile(
    r"^(?:\$|\{|<|\*|%|changeme|password|secret|example|x+$)", re.IGNORECASE
)
_ENV_TEMPLATES: Final = (".example", ".sample", ".template", ".dist")
_MIN_LENGTH: Final = 12
_MIN_ENTROPY: Final = 3.5
_MAX_BYTES: Final = 1_000_000
_MIN_DSN_PASSWORD: Final = 8
_LOWER: Final = re.compile(r"[a-z]")
_UPPER: Final = re.compile(r"[A-Z]")
_DIGIT: Final = re.compile(r"[0-9]")
_PREFIX: Final = re.compile(r"^[A-Z][A-Z0-9_]*_$")
_ENV_READERS: Final = frozenset({"os.environ", "os.getenv", "os.putenv", "environ", "getenv"})


def entropy(text: str) -> float:
    """Shannon entropy of `text` in bits per character."""
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


def _secret_value(value: str) -> bool:
    return (
        len(value) >= _MIN_LENGTH
        and entropy(value) >= _MIN_ENTROPY
        and not _PLACEHOLDER.match(value)
        and "{{" not in value
        and not any(char.isspace() for char in value)  # prose, not a credential
        and not _sequence(value)
        and sum(map(bool, (_LOWER.search(value), _UPPER.search(value), _DIGIT.search(value)))) >= 2  # noqa: PLR2004  (two classes)
    )


def _sequence(value: str) -> bool:
    """An alphabet such as `0123456789abcdef` is a constant, not a secret."""
    steps = sum(1 for a, b in zip(value, value[1:], strict=False) if ord(b) - ord(a) == 1)  # noqa: RUF007  (pairs of neighbours, Python 3.11 target)
    return steps * 2 >= len(value)


class HardCodedSecrets(Rule):
    """No secret is written in a committed file, and no `.env` file is committed."""

    info = RuleInfo(
        rule="CF-2",
        check="hard-coded-secret",
        summary="No known token format, DSN with a password, or high-entropy value under a "
        "password / secret / token / key name in a committed file; no committed .env file.",
        fix="Read the value from the environment through the service's Config (SecretStr) and "
        "create it with `svcinfra env apply`; rotate a secret that was committed.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Scan every text file; report committed `.env` files unless git ignores them."""
        findings: list[Finding] = []
        checked = 0
        for path in repo.files():
            name = path.name
            if name == ".env" or (name.startswith(".env.") and not name.endswith(_ENV_TEMPLATES)):
                if not repo.is_git_ignored(path):
                    findings.append(
                        self.finding(
                            repo.rel(path),
                            0,
                            f"{name} file committed; commit .env.example without values instead",
                        )
                    )
                continue
            if not (name.endswith(_TEXT_SUFFIXES) or name == "Dockerfile"):
                continue
            if path.stat().st_size > _MAX_BYTES:
                continue
            text = repo.text(path)
            if text is None or not text:
                continue
            checked += 1
            rel = repo.rel(path)
            # fake credentials are what tests are made of: only real token formats count there
            guessing = "tests" not in path.relative_to(repo.root).parts
            findings.extend(self._text(rel, text, guessing=guessing))
            if name.endswith(".py") and guessing:
                tree = repo.tree(path)
                if tree is not None:
                    findings.extend(self._python(repo.rel(path), tree))
        return self.result(findings, checked)

    def _text(self, rel: str, text: str, *, guessing: bool) -> Iterator[Finding]:
        for number, line in enumerate(text.splitlines(), start=1):
            for what, pattern in _TOKENS:
                match = pattern.search(line)
                if match:
                    yield self.finding(rel, number, f"{what} in the file", column=match.start() + 1)
            if not guessing:
                continue
            dsn = _DSN.search(line)
            password = dsn.group("password") if dsn else ""
            if dsn and len(password) >= _MIN_DSN_PASSWORD and not _PLACEHOLDER.match(password):
                yield self.finding(
                    rel, number, "URL with a password in it", column=dsn.start("password") + 1
                )
            if not rel.endswith(".py"):
                assigned = _ASSIGNMENT.match(line)
                if assigned and looks_secret(assigned.group("name")):
                    value = assigned.group("value")
                    if _secret_value(value):
                        yield self.finding(
                            rel,
                            number,
                            f"{assigned.group('name')} has a literal secret-looking value",
                            column=assigned.start("value") + 1,
                        )

    def _python(self, rel: str, tree: ast.Module) -> Iterator[Finding]:
        for name, value in _python_assignments(tree):
            if looks_secret(name) and isinstance(value.value, str) and _secret_value(value.value):
                yield self.finding(
                    rel,
                    value.lineno,
                    f"{name} is assigned a literal secret-looking value",
                    column=value.col_offset + 1,
                )


def _python_assignments(tree: ast.Module) -> Iterator[tuple[str, ast.Constant]]:  # noqa: C901  (one pass over the tree, kept whole)
    for node in ast.walk(tree):
        pairs: list[tuple[ast.expr | None, ast.expr | None]] = []
        if isinstance(node, ast.Assign):
            pairs = [(target, node.value) for target in node.targets]
        elif isinstance(node, ast.AnnAssign):
            pairs = [(node.target, node.value)]
        elif isinstance(node, ast.Dict):
            pairs = list(zip(node.keys, node.values, strict=True))
        elif isinstance(node, ast.Call):
            for kw in node.keywords:
                if kw.arg and isinstance(kw.value, ast.Constant):
                    yield kw.arg, kw.value
        for target, value in pairs:
            if not isinstance(value, ast.Constant):
                continue
            if isinstance(target, ast.Constant) and isinstance(target.value, str):
                yield target.value, value
            elif target is not None and (name := dotted(target)):
                yield name.rsplit(".", 1)[-1], value


def _uses_cache_or_db(repo: Repo, service: Service) -> bool:
    if uses_postgres(repo, service):
        return True
    return any(m.imports_any("redis", "svcinfra.cache") for m in modules(repo, service))


class EnvPrefix(Rule):
    """A service with a database or cache declares its ENV_PREFIX."""

    info = RuleInfo(
        rule="CF-4",
        check="env-prefix",
        summary="A service that uses Postgres or Redis declares env-prefix (its ENV_PREFIX, e.g. "
        "USERS_) in [tool.svcinfra] of its pyproject.toml, so its credentials are prefixed.",
        fix='Add env-prefix = "<NAME>_" to [tool.svcinfra] and read credentials as '
        "<NAME>_POSTGRES_USER / <NAME>_REDIS_PASSWORD through svcinfra.config.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Check the declaration of every service that has a database or a cache."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            if not _uses_cache_or_db(repo, service):
                continue
            checked += 1
            prefix = service.declaration.get("env-prefix")
            if not isinstance(prefix, str) or not _PREFIX.match(prefix):
                findings.append(
                    self.finding(
                        f"{service.rel}/pyproject.toml",
                        0,
                        f"service {service.name} uses a database or cache but declares no valid "
                        f"env-prefix (got {prefix!r})",
                    )
                )
        return self.result(findings, checked)


class OneConfig(Rule):
    """The environment is read only by the service's Config."""

    info = RuleInfo(
        rule="CF-6",
        check="environ-outside-config",
        summary='A service declares its one Config class (config = "module:Class" in '
        "[tool.svcinfra]) and reads os.environ / os.getenv nowhere else.",
        fix="Add the setting to the service's Config (svcinfra.config) and pass the loaded "
        "value where it is needed.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Report env reads outside config modules and services without a declared Config."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            if service.package_dir is None:
                continue
            checked += 1
            if not isinstance(service.declaration.get("config"), str):
                findings.append(
                    self.finding(
                        f"{service.rel}/pyproject.toml",
                        0,
                        f'service {service.name} declares no config = "module:Class" in '
                        "[tool.svcinfra]",
                    )
                )
            for module in modules(repo, service):
                if module.layer in {"config", "settings"}:
                    continue
                findings.extend(self._reads(module.rel, module.tree))
        return self.result(findings, checked)

    def _reads(self, rel: str, tree: ast.Module) -> Iterator[Finding]:
        imported = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "os"
            for alias in node.names
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute | ast.Name):
                name = dotted(node)
                bare = isinstance(node, ast.Name) and node.id in imported
                if name in {"os.environ", "os.getenv", "os.putenv"} or (
                    bare and name in _ENV_READERS
                ):
                    yield self.finding(
                        rel,
                        node.lineno,
                        f"{name} read outside the service's Config",
                        column=node.col_offset + 1,
                    )
