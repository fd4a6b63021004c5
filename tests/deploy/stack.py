"""services.yaml as codexctl sees it in one environment, and the checks the deploy tests make.

`load_stack` renders services.yaml the way codexctl's config.LoadAndRender does (raw header
first for project, versions and the namespace pattern; then the whole file), keeps the
`infrastructure` and `services` entries whose `when` renders to true, and renders their
manifests with the same context. Each `*_problems` function returns what is wrong, one string
per problem, so that a test can assert an empty list on the real files and a specific problem on
a broken copy.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml
from gotemplate import Context, render

from svcinfra.config import ConfigError, load_config
from svcinfra.envtool import Placement, Service, load_service, schema

ROOT = Path(__file__).resolve().parents[2]
K8S_VERSION = "1.31"
SHA = "4f5e6d7c8b9a0f1e2d3c4b5a69788796a5b4c3d2"
# codexctl's environments plus staging and prod (CI-5), with the slot an ai environment gets.
SLOTS = {"dev": 0, "ai-staging": 0, "ai": 3, "staging": 0, "prod": 0}
DEV_LIKE = frozenset({"dev", "ai-staging", "ai"})
PROD_LIKE = frozenset({"staging", "prod"})
# Environments whose services run the workspace's sources with reload (CI-4).
RELOAD = frozenset({"dev", "ai"})
# ENV of the services' Config (svcinfra.config.Environment) in each codexctl environment.
SERVICE_ENV = {
    "dev": "dev",
    "ai-staging": "ai-staging",
    "ai": "dev",
    "staging": "staging",
    "prod": "prod",
}
WORKSPACE = "/workspace"
TECH_PORT = "TECH_PORT"

# codexctl's StackConfig (internal/config/config.go): the keys yaml.v3 decodes; any other key is
# silently dropped by codexctl, so here it is an error.
_HOOK = {"name", "run", "use", "with", "when", "continueOnError", "timeout"}
_HOOKS = {k: [_HOOK] for k in ("beforeApply", "afterApply", "beforeDestroy", "afterDestroy")}
_MANIFEST = [{"path"}]
_PVC = {"size", "storageClass", "accessModes"}
STACK_SCHEMA: dict[str, Any] = {
    "project": str,
    "envFiles": [str],
    "codex": dict,
    "namespace": {"patterns": {"*": str}},
    "maxSlots": int,
    "registry": str,
    "images": {
        "*": {
            "type",
            "from",
            "local",
            "repository",
            "tag",
            "tagTemplate",
            "dockerfile",
            "context",
            "buildArgs",
            "buildContexts",
        },
    },
    "baseDomain": {"*": str},
    "environments": {"*": {"kubeconfig", "context", "from", "imagePullPolicy", "localRegistry"}},
    "infrastructure": [{"name": str, "manifests": _MANIFEST, "when": str, "hooks": _HOOKS}],
    "services": [
        {
            "name": str,
            "manifests": _MANIFEST,
            "image": {"repository", "tagTemplate"},
            "ingress": {"hosts": {"*": str}},
            "when": str,
            "overlays": {
                "*": {
                    "pvcMounts": [{"name", "claimName", "mountPath", "subPath", "readOnly"}],
                    "dropKinds": [str],
                },
            },
            "hooks": _HOOKS,
        },
    ],
    "hooks": {"beforeAll": [_HOOK], "afterAll": [_HOOK]},
    "storage": {"workspace": _PVC, "data": _PVC, "registry": _PVC},
    "state": {"backend", "configmapNamespace", "configmapPrefix"},
    "versions": {"*": str},
}


@dataclass
class Stack:
    """services.yaml rendered for one environment."""

    env: str
    ctx: Context
    data: dict[str, Any]
    root: Path = ROOT
    # Manifest path -> text to render instead of the file (the tests' broken copies).
    overrides: dict[str, str] = field(default_factory=dict)
    _objects: list[tuple[str, dict[str, Any]]] | None = field(default=None, repr=False)

    def enabled(self, entry: dict[str, Any]) -> bool:
        """Tell whether codexctl applies an infrastructure or service entry here."""
        when = str(entry.get("when", "true")).strip()
        if when not in {"true", "false"}:
            raise ValueError(f"{entry.get('name')}: when renders to {when!r}")
        return when == "true"

    def services(self) -> list[dict[str, Any]]:
        """Return the service entries deployed in this environment."""
        return [s for s in self.data.get("services") or [] if self.enabled(s)]

    def infrastructure(self) -> list[dict[str, Any]]:
        """Return the infrastructure entries applied in this environment."""
        return [i for i in self.data.get("infrastructure") or [] if self.enabled(i)]

    def objects(self) -> list[tuple[str, dict[str, Any]]]:
        """Return (manifest path, object) of every Kubernetes object applied here."""
        if self._objects is None:
            self._objects = []
            for entry in [*self.infrastructure(), *self.services()]:
                for ref in entry["manifests"]:
                    text = self.overrides.get(ref["path"]) or (self.root / ref["path"]).read_text(
                        encoding="utf-8"
                    )
                    self._objects.extend((ref["path"], o) for o in render_objects(text, self.ctx))
        return self._objects

    def find(self, kind: str, name: str) -> dict[str, Any] | None:
        """Return the object of that kind and name applied here, if any."""
        for _, obj in self.objects():
            if obj["kind"] == kind and obj["metadata"]["name"] == name:
                return obj
        return None


def header(text: str) -> dict[str, Any]:
    """Read services.yaml as plain YAML, as codexctl reads its header before rendering."""
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def load_stack(
    env: str,
    env_map: dict[str, str] | None = None,
    *,
    text: str | None = None,
    root: Path = ROOT,
) -> Stack:
    """Render services.yaml (or `text`) for `env` with `env_map` as codexctl's EnvMap."""
    raw = text if text is not None else (root / "services.yaml").read_text(encoding="utf-8")
    head = header(raw)
    env_map = {"GITHUB_SHA": SHA} if env_map is None else env_map
    ctx = Context(
        env=env,
        namespace="",
        project=head["project"],
        slot=SLOTS[env],
        versions=head.get("versions") or {},
        base_domain=head.get("baseDomain") or {},
        env_map=env_map,
    )
    pattern = (head.get("namespace") or {}).get("patterns", {}).get(env, "")
    ctx.namespace = render(pattern, ctx).strip() or f"{head['project']}-{env}"
    return Stack(env=env, ctx=ctx, data=yaml.safe_load(render(raw, ctx)), root=root)


def render_objects(text: str, ctx: Context) -> list[dict[str, Any]]:
    """Render one manifest file and return its Kubernetes objects."""
    return [doc for doc in yaml.safe_load_all(render(text, ctx)) if doc]


def deploy_env(env: str, services: list[Service]) -> dict[str, str]:
    """What a deploy's environment holds (CF-5): the sha, and every value the GitHub env has.

    Each required variable without a default and each secret of every service gets a made-up
    value, as `svcinfra env apply` would have created them; plus the admin secrets and, for
    staging and prod, the managed servers' hosts.
    """
    values = {
        "GITHUB_SHA": SHA,
        "ENV": SERVICE_ENV[env],
        "POSTGRES_USER": "admin",
        "POSTGRES_PASSWORD": "admin-password-for-tests",
        "RABBITMQ_ADMIN_USER": "admin",
        "RABBITMQ_ADMIN_PASSWORD": "admin-password-for-tests",
        "POSTGRES_HOST": "pg.managed.internal",
        "REDIS_HOST": "redis.managed.internal",
        "RABBITMQ_HOST": "mq.managed.internal",
    }
    for service in services:
        for entry in schema(service):
            var = entry.variable
            if entry.placement is Placement.SECRET:
                values.setdefault(var.name, f"test-{var.name.lower()}-0123456789")
            elif entry.placement is Placement.VARIABLE and var.required and var.default is None:
                values.setdefault(var.name, _sample(var.name, var.type))
    return values


def _sample(name: str, type_name: str) -> str:
    if name.endswith("_URL"):
        return "http://fake-mail:8080"
    if type_name == "int":
        return "1"
    return name.lower().replace("_", "-")


def service_of(entry: dict[str, Any], root: Path = ROOT) -> Service:
    """Load the Service (Config, prefix, name) of a services.yaml entry from its folder."""
    for ref in entry["manifests"]:
        parts = Path(ref["path"]).parts
        if parts[0] == "services" and len(parts) > 3:
            return load_service(root.joinpath(*parts[:3]))
    raise LookupError(f"{entry['name']}: no manifest under services/<zone>/<name>/")


def service_folders(root: Path = ROOT) -> list[Path]:
    """Every services/<zone>/<name>/ folder with a pyproject.toml."""
    return sorted(p.parent for p in root.glob("services/*/*/pyproject.toml"))


def pyproject_version(folder: Path) -> str:
    """The `version` of a project's pyproject.toml."""
    data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


# --- services.yaml ---------------------------------------------------------------------------


def schema_problems(data: Any, spec: Any = None, where: str = "$") -> list[str]:
    """Keys and shapes that codexctl's StackConfig does not have."""
    spec = STACK_SCHEMA if spec is None else spec
    if spec is str or spec is int:
        ok = isinstance(data, spec) or (spec is str and isinstance(data, int | float | bool))
        return [] if ok else [f"{where}: expected {spec.__name__}, got {type(data).__name__}"]
    if spec is dict:
        return [] if isinstance(data, dict) else [f"{where}: expected a mapping"]
    if isinstance(spec, list):
        if not isinstance(data, list):
            return [f"{where}: expected a list"]
        return [
            p
            for i, item in enumerate(data)
            for p in schema_problems(item, spec[0], f"{where}[{i}]")
        ]
    if isinstance(spec, set):
        spec = dict.fromkeys(spec, object)
    if not isinstance(data, dict):
        return [f"{where}: expected a mapping"]
    problems = []
    for key, value in data.items():
        sub = spec.get(key, spec.get("*"))
        if sub is None:
            problems.append(f"{where}.{key}: codexctl has no such key")
        elif sub is not object:
            problems.extend(schema_problems(value, sub, f"{where}.{key}"))
    return problems


def image_problems(stack: Stack) -> list[str]:
    """CI-2 and CI-3: every service runs a build image, tagged `<version>-<sha>`, never latest."""
    images = stack.data.get("images") or {}
    versions = stack.data.get("versions") or {}
    sha = stack.ctx.env_map.get("GITHUB_SHA", "")[:12]
    builds = {spec.get("repository"): key for key, spec in images.items()}
    problems = []
    for entry in stack.data.get("services") or []:
        key = builds.get((entry.get("image") or {}).get("repository"))
        if key is None:
            problems.append(f"{entry['name']}: its image is none of the images block's")
            continue
        problems.extend(_service_image_problems(entry, key, images[key], versions, sha))
    problems.extend(
        f"images.{key}: {ref} is not pinned"
        for key, spec in images.items()
        for ref in (spec.get("from"), spec.get("local"))
        if ref and (":" not in ref.rsplit("/", 1)[-1] or ref.endswith(":latest"))
    )
    return problems


def _service_image_problems(
    entry: dict[str, Any], key: str, build: dict[str, Any], versions: dict[str, str], sha: str
) -> list[str]:
    name = entry["name"]
    tag = str(entry["image"].get("tagTemplate", ""))
    problems = []
    if build.get("type") != "build" or build.get("context") != ".":
        problems.append(f"{name}: images.{key} is not built from the repository root")
    if str(build.get("tagTemplate")) != tag:
        problems.append(f"{name}: the tag differs from images.{key}'s")
    if tag == "latest" or ":latest" in entry["image"]["repository"]:
        problems.append(f"{name}: tagged latest")
    if key not in versions or not tag.startswith(str(versions[key])):
        problems.append(f"{name}: tag {tag!r} does not start with versions.{key}")
    if sha and not tag.endswith(sha):
        problems.append(f"{name}: tag {tag!r} does not carry the commit {sha}")
    if build.get("buildArgs", {}).get("SERVICE_VERSION") != versions.get(key):
        problems.append(f"{name}: buildArgs.SERVICE_VERSION is not versions.{key}")
    return problems


def deployment_name_problems(stack: Stack) -> list[str]:
    """codexctl sets the image and mounts an overlay only in the Deployment named as the entry.

    (engine.applyServiceImage / the overlay mounts: `metadata.name == svc.Name`.) Any other
    Deployment in an entry's manifests would run without the workspace in dev (CI-4).
    """
    problems = []
    for entry in stack.services():
        for ref in entry["manifests"]:
            problems.extend(
                f"{ref['path']}: Deployment {obj['metadata']['name']} is in entry {entry['name']}"
                for path, obj in stack.objects()
                if path == ref["path"]
                and obj["kind"] == "Deployment"
                and obj["metadata"]["name"] != entry["name"]
            )
    return sorted(set(problems))


def dev_service_problems(stack: Stack) -> list[str]:
    """CI-6: services/dev/* and the data services run only in dev-like environments."""
    if stack.env in DEV_LIKE:
        return []
    problems = [
        f"dev service {entry['name']} is deployed to {stack.env}"
        for entry in stack.services()
        if any(ref["path"].startswith("services/dev/") for ref in entry["manifests"])
    ]
    problems.extend(
        f"the in-cluster data services are deployed to {stack.env}"
        for entry in stack.infrastructure()
        if entry["name"] == "data-services"
    )
    return problems


def overlay_problems(stack: Stack) -> list[str]:
    """CI-4: the workspace is mounted at /workspace in dev and ai slots, nowhere else."""
    problems = []
    for entry in stack.services():
        overlays = entry.get("overlays") or {}
        problems.extend(
            f"{entry['name']}: overlay for {env}, not a reload environment"
            for env in overlays
            if env not in RELOAD
        )
        mounts = (overlays.get(stack.env) or {}).get("pvcMounts") or []
        if stack.env in RELOAD and not any(m.get("mountPath") == WORKSPACE for m in mounts):
            problems.append(f"{entry['name']}: no workspace mount at {WORKSPACE} in {stack.env}")
    shared = stack.find("ConfigMap", "shared-config")
    code_root = (shared or {}).get("data", {}).get("CODE_ROOT")
    expected = WORKSPACE if stack.env in RELOAD else ""
    if code_root != expected:
        problems.append(f"shared-config CODE_ROOT is {code_root!r} in {stack.env}")
    return problems


# --- manifests -------------------------------------------------------------------------------

_SECRET_VALUE = re.compile(r'^\{\{ printf "%q" \(envOr "(?P<name>[A-Z][A-Z0-9_]*)" ""\) \}\}$')


def secret_problems(path: str, text: str) -> list[str]:
    """CF-2: a Secret template holds names only, each value the deploy env's of that name."""
    problems = []
    for doc in yaml.safe_load_all(_quote_templates(text)):
        if not doc or doc.get("kind") != "Secret":
            continue
        name = doc["metadata"]["name"]
        if doc.get("data"):
            problems.append(f"{path}: Secret {name} has data (a literal, base64) values")
        for key, value in (doc.get("stringData") or {}).items():
            match = _SECRET_VALUE.match(str(value))
            if match is None or match.group("name") != key:
                problems.append(f"{path}: Secret {name} {key} is not envOr of its own name")
    return problems


def _quote_templates(text: str) -> str:
    """Make a manifest template readable as YAML: a bare `{{ ... }}` value becomes a string."""
    text = re.sub(r"^\{\{-.*?-\}\}\n?", "", text, flags=re.MULTILINE)
    return re.sub(
        r": (\{\{.*\}\})\s*$", lambda m: ": '" + m.group(1) + "'", text, flags=re.MULTILINE
    )


def k8s_problems(obj: dict[str, Any]) -> list[str]:
    """The object against the Kubernetes OpenAPI schema, strict (no unknown field)."""
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as exc:
        where = "/".join(str(p) for p in exc.path) if hasattr(exc, "path") else ""
        return [f"{obj['kind']} {obj['metadata'].get('name')}: {where} {exc.message}"]
    return []


def pod_spec(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template's spec of a workload, None for other kinds."""
    if obj["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job"}:
        return obj["spec"]["template"]["spec"]
    return None


def security_problems(obj: dict[str, Any], *, service: bool) -> list[str]:
    """runAsNonRoot everywhere; no privilege escalation; read-only root for service containers."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    name = obj["metadata"]["name"]
    pod = spec.get("securityContext") or {}
    problems = []
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        sc = container.get("securityContext") or {}
        if not sc.get("runAsNonRoot", pod.get("runAsNonRoot")):
            problems.append(f"{name}/{container['name']}: runAsNonRoot is not set")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}/{container['name']}: privilege escalation allowed")
        if service and sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}/{container['name']}: root filesystem writable")
        if "resources" not in container:
            problems.append(f"{name}/{container['name']}: no resources")
    return problems


def probe_problems(obj: dict[str, Any], tech_port: int) -> list[str]:
    """Liveness on /health/livez and readiness on /health/readyz, both on the tech port."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    problems = []
    for container in spec["containers"]:
        ports = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        for kind, path in (
            ("livenessProbe", "/health/livez"),
            ("readinessProbe", "/health/readyz"),
        ):
            get = (container.get(kind) or {}).get("httpGet") or {}
            port = ports.get(get.get("port"), get.get("port"))
            if get.get("path") != path or port != tech_port:
                problems.append(
                    f"{obj['metadata']['name']}/{container['name']}: {kind} is not "
                    f"GET {path} on the tech port {tech_port}"
                )
    return problems


def init_problems(obj: dict[str, Any], service: Service) -> list[str]:
    """The init containers a service's Config needs, in order; a grace period above shutdown."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    names = {e.variable.section for e in schema(service)}
    expected = []
    if "postgres" in names:
        expected += ["wait-for-postgres", "create-db"]
    if "amqp" in names:
        expected += ["create-rabbitmq-user"]
    if "postgres" in names:
        expected += ["migrate"]
    actual = [c["name"] for c in spec.get("initContainers", [])]
    problems = []
    if actual != expected:
        problems.append(f"{obj['metadata']['name']}: init containers {actual}, expected {expected}")
    return problems + drain_problems(obj, service)


def drain_problems(obj: dict[str, Any], service: Service) -> list[str]:
    """Rollouts without a failed request (issue 17), against the config's defaults.

    The grace period exceeds HTTP_DRAIN_DELAY + SHUTDOWN_TIMEOUT (Kubernetes kills the process
    after it); no container has a preStop hook (the drain is in the process, from SIGTERM: a
    hook would postpone the readiness 503 and spend the grace period); a container serving an
    API (`http` port) is unready within the drain delay when its readiness checks fail.
    """
    spec = pod_spec(obj)
    if spec is None:
        return []
    defaults = {e.name: e.variable.default for e in schema(service)}
    shutdown = float(defaults.get("SHUTDOWN_TIMEOUT") or 0)
    drain = float(defaults.get("HTTP_DRAIN_DELAY") or 0)
    name = obj["metadata"]["name"]
    problems = []
    if spec.get("terminationGracePeriodSeconds", 30) <= shutdown + drain:
        problems.append(
            f"{name}: terminationGracePeriodSeconds is not above HTTP_DRAIN_DELAY ({drain:g}) "
            f"+ SHUTDOWN_TIMEOUT ({shutdown:g})"
        )
    for container in spec["containers"]:
        if (container.get("lifecycle") or {}).get("preStop"):
            problems.append(
                f"{name}/{container['name']}: a preStop hook delays the SIGTERM that starts "
                "the drain (HTTP_DRAIN_DELAY)"
            )
        readiness = container.get("readinessProbe") or {}
        serves = any(p.get("name") == "http" for p in container.get("ports", []))
        unready_after = readiness.get("periodSeconds", 10) * readiness.get("failureThreshold", 3)
        if serves and unready_after > drain:
            problems.append(
                f"{name}/{container['name']}: readiness takes {unready_after} s to fail, more "
                f"than HTTP_DRAIN_DELAY ({drain:g})"
            )
    return problems


def effective_env(stack: Stack, container: dict[str, Any]) -> tuple[dict[str, str], list[str]]:
    """The variables a container gets (envFrom in order, then env) and the missing sources."""
    values: dict[str, str] = {}
    missing = []
    for source in container.get("envFrom", []):
        kind, ref = (
            ("ConfigMap", source["configMapRef"])
            if "configMapRef" in source
            else ("Secret", source["secretRef"])
        )
        obj = stack.find(kind, ref["name"])
        if obj is None:
            if not ref.get("optional"):
                missing.append(f"{kind} {ref['name']}")
            continue
        values.update(
            {k: str(v) for k, v in (obj.get("data") or obj.get("stringData") or {}).items()}
        )
    for var in container.get("env", []):
        values[var["name"]] = str(var.get("value", ""))
    return values, missing


def env_problems(stack: Stack, obj: dict[str, Any], service: Service) -> list[str]:
    """CF-1, CF-6: the service's Config loads from exactly what its containers get."""
    spec = pod_spec(obj)
    if spec is None:
        return []
    problems = []
    containers = [c for c in spec.get("initContainers", []) if c["name"] == "migrate"]
    for container in [*containers, *spec["containers"]]:
        where = f"{obj['metadata']['name']}/{container['name']}"
        values, missing = effective_env(stack, container)
        problems.extend(f"{where}: envFrom {m} is not deployed in {stack.env}" for m in missing)
        try:
            load_config(service.config, environ=values)
        except ConfigError as exc:
            problems.append(f"{where}: {exc}")
    return problems
