"""CF-2, CF-3, CF-4, CF-6: no committed secrets, secrets typed, prefixed credentials, one Config."""

from __future__ import annotations

import ast
import bisect
import re
from typing import TYPE_CHECKING, Final

from svcinfra.check.adapters import dotted, modules
from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult, Severity

from ._repository import uses_postgres

if TYPE_CHECKING:
    from collections.abc import Iterator

    from svcinfra.check.adapters import Repo, Service

# A reviewed rule set with the coverage of detect-secrets' plugins (its token formats, its
# keyword detector, basic auth in URLs, private keys), plus bearer tokens. Its high-entropy string
# plugins are left out on purpose: image digests and hashes are pinned all over a monorepo, and a
# secret worth finding sits under a secret's name or has a known format.
_TOKENS: Final[tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...]] = (
    # (what, literals one of which the text must hold, the pattern): the literals let a file
    # that holds none skip the regular expression, which is most files for most formats
    (
        "an AWS access key id",
        ("AKIA", "ASIA", "ABIA", "ACCA"),
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}\b"),
    ),
    (
        "an AWS secret access key",
        ("aws", "AWS", "Aws"),
        re.compile(r"(?i:aws.{0,20}?secret.{0,20}?)['\"][0-9a-zA-Z/+]{40}['\"]"),
    ),
    (
        "an Azure storage account key",
        ("AccountKey=",),
        re.compile(r"AccountKey=[a-zA-Z0-9+/=]{88}"),
    ),
    (
        "a GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})"),
    ),
    ("a GitLab token", ("glpat-",), re.compile(r"\bglpat-[0-9A-Za-z_-]{20,}")),
    ("a Slack token", ("xox",), re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}")),
    (
        "a Slack webhook",
        ("hooks.slack.com",),
        re.compile(r"https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/\w+"),
    ),
    ("a Stripe key", ("k_live_",), re.compile(r"\b[sr]k_live_[A-Za-z0-9]{20,}")),
    ("a Google API key", ("AIza",), re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    (
        "a SendGrid key",
        ("SG.",),
        re.compile(r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),
    ),
    ("a Mailchimp key", ("-us",), re.compile(r"\b[0-9a-f]{32}-us[0-9]{1,2}\b")),
    ("a Twilio key", ("AC", "SK"), re.compile(r"\b(?:AC|SK)[0-9a-f]{32}\b")),
    ("a Square token", ("sq0",), re.compile(r"\bsq0(?:atp|csp)-[0-9A-Za-z_-]{22,43}\b")),
    ("an npm token", ("npm_",), re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")),
    ("a PyPI token", ("pypi-",), re.compile(r"\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}")),
    (
        "an OpenAI key",
        ("T3BlbkFJ",),
        re.compile(r"\bsk-(?:proj-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}"),
    ),
    ("a Telegram bot token", (":AA",), re.compile(r"\b[0-9]{8,10}:AA[0-9A-Za-z_-]{33}\b")),
    (
        "a Discord bot token",
        (".",),
        re.compile(r"\b[MNO][a-zA-Z0-9_-]{23,25}\.[a-zA-Z0-9_-]{6}\.[a-zA-Z0-9_-]{27,38}\b"),
    ),
    (
        "a JSON web token",
        ("eyJ",),
        re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    ),
    (
        "a private key",
        ("PRIVATE KEY",),
        re.compile(r"-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----"),
    ),
)
_NEWLINE: Final = re.compile(r"\n")
# outside tests: a bearer or basic credential written out in a header value
_AUTH_HEADER: Final = re.compile(
    r"\b(?:Bearer|Basic|Token)\s+(?P<value>[A-Za-z0-9\-._~+/]{12,}=*)(?![A-Za-z0-9\-._~+/=])"
)
_DSN: Final = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/?#@'\"]*:(?P<password>[^\s/@'\"]+)@")
_ASSIGNMENT: Final = re.compile(
    r"^\s*(?:export\s+)?[\"']?(?P<name>[A-Za-z_][A-Za-z0-9_.-]*)[\"']?\s*[:=]\s*"
    r"(?P<quote>[\"']?)(?P<value>[^\"'#]*?)(?P=quote)\s*(?:#.*)?$"
)
_TEXT_SUFFIXES: Final = (".py", ".yaml", ".yml", ".toml", ".json", ".ini", ".cfg", ".sh", ".sql")
_PLACEHOLDER: Final = re.compile(
    r"^(?:\$|\{|<|\*|%|\.\.\.|changeme|change-me|change_me|replace|todo|tbd|dummy|fake|"
    r"example|placeholder|your[-_ ]|x{3,}|none$|null$|true$|false$|secret$|password$)",
    re.IGNORECASE,
)
# `USER:PASSWORD@`, `[:PASSWORD]@`: a word in capitals stands for a value in usage text
_SHOUTED: Final = re.compile(r"^[\[<{(]*[A-Z][A-Z0-9_]*[\]>})]*$")
_ENV_TEMPLATES: Final = (".example", ".sample", ".template", ".dist")
_MIN_VALUE: Final = 8
_MAX_BYTES: Final = 1_000_000
_MIN_DSN_PASSWORD: Final = 8
_PREFIX: Final = re.compile(r"^[A-Z][A-Z0-9_]*_$")
_ENV_READERS: Final = frozenset({"os.environ", "os.getenv", "os.putenv", "environ", "getenv"})
_CAMEL: Final = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_NAME_PARTS: Final = re.compile(r"[^a-z0-9]+")
# words that name a secret on their own; "key" and "auth" only with a word that makes them one
_SECRET_WORDS: Final = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "apikey",
        "credential",
        "credentials",
    }
)
_KEY_QUALIFIERS: Final = frozenset(
    {
        "api",
        "secret",
        "private",
        "access",
        "signing",
        "encryption",
        "client",
        "master",
        "auth",
        "license",
        "account",
        "service",
    }
)
# a last word that makes the name about something else than the secret itself
_NOT_THE_SECRET: Final = frozenset(
    {
        "url",
        "uri",
        "endpoint",
        "prefix",
        "suffix",
        "path",
        "file",
        "dir",
        "name",
        "header",
        "type",
        "id",
        "ttl",
        "length",
        "len",
        "field",
        "env",
        "var",
        "variable",
        "ref",
        "hint",
        "policy",
        "min",
        "max",
        "timeout",
        "expiry",
        "expires",
        "scheme",
        "format",
        "pattern",
    }
)


# every name `secret_name` accepts holds one of these (case-insensitively): a module without any
# is not walked for assignments, which is most modules
_SECRET_HINT: Final = re.compile(
    r"(?i)pass|pwd|secret|token|apikey|credential|"
    r"(?:api|secret|private|access|signing|encryption|client|master|auth|license|account|service)"
    r"[-_. ]?(?:key|auth)"
)


def secret_name(name: str) -> bool:
    """Whether a variable, key or setting name holds a secret's value (CF-2's keyword detector).

    `db_password`, `API_KEY`, `client_secret`, `authToken` are; `routing_key`, `key_prefix`,
    `token_url`, `auth_url`, `publishable_key`, `password_min_length` are not.
    """
    parts = [part for part in _NAME_PARTS.split(_CAMEL.sub("_", name).lower()) if part]
    if not parts or parts[-1] in _NOT_THE_SECRET:
        return False
    if any(part in _SECRET_WORDS for part in parts):
        return True
    for before, part in zip(parts, parts[1:], strict=False):  # noqa: RUF007  (pairs of neighbours, Python 3.11 target)
        if part in {"key", "auth"} and before in _KEY_QUALIFIERS:
            return True
    return False


def _literal_secret(value: str) -> bool:
    """A literal that is a credential, not a placeholder, a reference or prose."""
    value = value.strip()
    return (
        len(value) >= _MIN_VALUE
        and not _PLACEHOLDER.match(value)
        and "{{" not in value
        and "://" not in value
        and not value.startswith(("/", "./", "~"))
        and not any(char.isspace() for char in value)
    )


def _is_env_file(name: str) -> bool:
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


class HardCodedSecrets(Rule):
    """No secret is written in a committed file, and no `.env` file is committed."""

    info = RuleInfo(
        rule="CF-2",
        check="hard-coded-secret",
        summary="No known token format (detect-secrets' set), bearer credential, DSN with a "
        "password, or literal value under a password / secret / token / API key name in a "
        "committed file; no committed env file (*.env, .env.*) other than templates whose "
        "values are empty or placeholders.",
        fix="Read the value from the environment through the service's Config (SecretStr) and "
        "create it with `svcinfra env apply`; rotate a secret that was committed.",
    )

    def check(self, repo: Repo) -> RuleResult:
        """Scan every text file and env file; report committed env files unless git ignores them."""
        findings: list[Finding] = []
        checked = 0
        for path in repo.files():
            name = path.name
            env_file = _is_env_file(name) or (
                name.endswith(_ENV_TEMPLATES) and _is_env_file(name.rsplit(".", 1)[0])
            )
            if not (env_file or name.endswith(_TEXT_SUFFIXES) or name == "Dockerfile"):
                continue
            if env_file and name.endswith(_ENV_TEMPLATES):
                env_file = False  # a template: its values are checked like any file's
            elif env_file:
                if repo.is_git_ignored(path):
                    continue
                findings.append(
                    self.finding(
                        repo.rel(path),
                        0,
                        f"{name} file committed; commit a .env.example without values instead",
                    )
                )
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
            if name.endswith(".py") and guessing and _SECRET_HINT.search(text):
                tree = repo.tree(path)
                if tree is not None:
                    findings.extend(self._python(repo.rel(path), tree))
        return self.result(findings, checked)

    def _text(self, rel: str, text: str, *, guessing: bool) -> Iterator[Finding]:
        # one pass of one combined pattern over the file; lines only where a guess needs them
        starts: list[int] = []
        for what, literals, pattern in _TOKENS:
            if not any(literal in text for literal in literals):
                continue
            for match in pattern.finditer(text):
                starts = starts or [0, *(m.end() for m in _NEWLINE.finditer(text))]
                number = bisect.bisect_right(starts, match.start())
                column = match.start() - starts[number - 1] + 1
                yield self.finding(rel, number, f"{what} in the file", column=column)
        if not guessing:
            return
        headers = "Bearer" in text or "Basic" in text or "Token" in text
        urls = "://" in text
        assignments = not rel.endswith(".py")
        if not (headers or urls or assignments):
            return
        for number, line in enumerate(text.splitlines(), start=1):
            yield from self._line(rel, number, line, headers=headers, urls=urls, py=not assignments)

    def _line(
        self, rel: str, number: int, line: str, *, headers: bool, urls: bool, py: bool
    ) -> Iterator[Finding]:
        header = _AUTH_HEADER.search(line) if headers else None
        if header and _literal_secret(header.group("value")):
            yield self.finding(
                rel,
                number,
                "a credential written in an Authorization value",
                column=header.start("value") + 1,
            )
        dsn = _DSN.search(line) if urls else None
        password = dsn.group("password") if dsn else ""
        if (
            dsn
            and len(password) >= _MIN_DSN_PASSWORD
            and not _PLACEHOLDER.match(password)
            and not _SHOUTED.match(password)
        ):
            yield self.finding(
                rel, number, "URL with a password in it", column=dsn.start("password") + 1
            )
        assigned = None if py else _ASSIGNMENT.match(line)
        if (
            assigned
            and secret_name(assigned.group("name"))
            and _literal_secret(assigned.group("value"))
        ):
            yield self.finding(
                rel,
                number,
                f"{assigned.group('name')} has a literal secret value",
                column=assigned.start("value") + 1,
            )

    def _python(self, rel: str, tree: ast.Module) -> Iterator[Finding]:
        for name, value in _python_assignments(tree):
            if secret_name(name) and isinstance(value.value, str) and _literal_secret(value.value):
                yield self.finding(
                    rel,
                    value.lineno,
                    f"{name} is assigned a literal secret value",
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
        # `from os import environ as env`: the local name, and what it stands for
        imported = {
            alias.asname or alias.name: alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module == "os"
            for alias in node.names
        }
        os_names = {
            alias.asname or alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
            if alias.name == "os"
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute | ast.Name):
                name = dotted(node)
                if isinstance(node, ast.Name) and node.id in imported:
                    name = imported[node.id]
                    bare = True
                else:
                    bare = False
                    head, _, rest = (name or "").partition(".")
                    if head in os_names:
                        name = f"os.{rest}"
                if name in {"os.environ", "os.getenv", "os.putenv"} or (
                    bare and name in _ENV_READERS
                ):
                    yield self.finding(
                        rel,
                        node.lineno,
                        f"{name} read outside the service's Config",
                        column=node.col_offset + 1,
                    )


# the bases that make a class a configuration section; a class of the module deriving from one is
# one too (`class MailApiSettings(HttpClientSettings)`)
_CONFIG_BASE_SUFFIXES: Final = ("Section", "Settings", "Config")


def _annotation_names(annotation: ast.expr) -> set[str]:
    """Every name in an annotation, by its last part (`pydantic.SecretStr` -> `SecretStr`)."""
    names: set[str] = set()
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Attribute):
            names.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            try:  # a string annotation: "SecretStr | None"
                names |= _annotation_names(ast.parse(node.value, mode="eval").body)
            except SyntaxError:
                continue
    return names


def _config_classes(tree: ast.Module) -> Iterator[ast.ClassDef]:
    known: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        bases = {(dotted(base) or "").rsplit(".", 1)[-1] for base in node.bases}
        if any(b.endswith(_CONFIG_BASE_SUFFIXES) or b in known for b in bases if b):
            known.add(node.name)
            yield node


class SecretsMarked(Rule):
    """A configuration field named like a secret is typed SecretStr or marked NotSecret."""

    info = RuleInfo(
        rule="CF-3",
        check="config-secret-name",
        summary="A field of a Section / Config class in service code whose name says it holds a "
        "secret (api_key, client_secret, password; not routing_key or token_url) is typed "
        "SecretStr, so it is masked and read only under ENV_PREFIX (CF-4), or carries "
        'Annotated[..., NotSecret("why")].',
        fix="Type the field SecretStr; if it is not a secret, annotate it "
        'Annotated[str, NotSecret("the reason")] (svcinfra.config).',
        severity=Severity.WARNING,
        also=("CF-4",),
    )

    def check(self, repo: Repo) -> RuleResult:
        """Look at every Section / Config class of every service package."""
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            for module in modules(repo, service):
                for cls in _config_classes(module.tree):
                    checked += 1
                    findings.extend(self._fields(module.rel, cls))
        return self.result(findings, checked)

    def _fields(self, rel: str, cls: ast.ClassDef) -> Iterator[Finding]:
        for node in cls.body:
            if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
                continue
            name = node.target.id
            names = _annotation_names(node.annotation)
            if "ClassVar" in names or "SecretStr" in names or "NotSecret" in names:
                continue
            if secret_name(name):
                yield self.finding(
                    rel,
                    node.lineno,
                    f"{cls.name}.{name} is named like a secret but not typed SecretStr: it is "
                    'neither masked nor read only under ENV_PREFIX; or mark it NotSecret("why")',
                    column=node.col_offset + 1,
                )
