"""Every Kubernetes manifest services.yaml applies, rendered per environment and checked.

Structure: each object against the Kubernetes OpenAPI schema in strict mode
(kubernetes-validate). Meaning: Secrets carry no value (CF-2); each service's Config loads from
exactly what its containers get (CF-1, CF-4, CF-6); probes, init order, grace period, security
context; the images are services.yaml's (CI-3). Each check also runs on a broken copy.
"""

import copy

import pytest
import yaml
from stack import (
    ROOT,
    SLOTS,
    TECH_PORT,
    Stack,
    deploy_env,
    drain_problems,
    effective_env,
    env_problems,
    init_problems,
    k8s_problems,
    load_stack,
    pod_spec,
    probe_problems,
    render_objects,
    schema,
    secret_problems,
    security_problems,
    service_folders,
    service_of,
)

from svcinfra.envtool import load_service, manifest_files, stale_files

ENVS = list(SLOTS)
SERVICES = [load_service(folder) for folder in service_folders()]


def full_stack(env: str) -> Stack:
    """The stack as a deploy renders it: the GitHub environment's values are all there."""
    return load_stack(env, deploy_env(env, SERVICES))


def service_objects(stack: Stack):
    """(service, object) for every object of every service deployed in `stack`."""
    for entry in stack.services():
        service = service_of(entry)
        paths = {ref["path"] for ref in entry["manifests"]}
        for path, obj in stack.objects():
            if path in paths:
                yield entry, service, obj


def users_deployment(stack: Stack) -> dict:
    return copy.deepcopy(stack.find("Deployment", "users-api"))


def tech_port(service) -> int:
    return int(next(e for e in schema(service) if e.name == TECH_PORT).variable.default)


@pytest.mark.parametrize("env", ENVS)
def test_every_object_is_valid_kubernetes(env):
    """Each object of the environment validates against the Kubernetes schema, strictly."""
    objects = full_stack(env).objects()
    kinds = {obj["kind"] for _, obj in objects}
    assert {"Namespace", "ConfigMap", "Secret", "Deployment", "Service"} <= kinds
    assert [p for _, obj in objects for p in k8s_problems(obj)] == []


def test_the_kubernetes_check_bites():
    """An unknown field and a wrongly typed one are both reported (strict mode)."""
    deployment = users_deployment(full_stack("dev"))
    deployment["spec"]["template"]["spec"]["initContainer"] = []
    deployment["spec"]["replicas"] = "one"
    problems = k8s_problems(deployment)
    assert len(problems) == 1
    assert "initContainer" in problems[0] or "one" in problems[0]
    del deployment["spec"]["template"]["spec"]["initContainer"]
    assert "'one' is not of type 'integer'" in k8s_problems(deployment)[0]


def _manifest_files() -> set[str]:
    return {
        ref["path"]
        for env in ENVS
        for entry in [*load_stack(env).infrastructure(), *load_stack(env).services()]
        for ref in entry["manifests"]
    }


def test_secrets_are_templates_without_values():
    """CF-2: every Secret value is `envOr` of its own name with an empty default; no `data`."""
    texts = {p: (ROOT / p).read_text(encoding="utf-8") for p in sorted(_manifest_files())}
    secrets = [p for p, t in texts.items() if "kind: Secret" in t]
    assert len(secrets) >= 4  # shared-admin and one per service
    assert [problem for p in secrets for problem in secret_problems(p, texts[p])] == []


@pytest.mark.parametrize("env", ENVS)
def test_secrets_render_empty_without_the_environment(env):
    """Rendered with no GitHub environment, every Secret is empty: nothing is in the files."""
    stack = load_stack(env)
    secrets = [obj for _, obj in stack.objects() if obj["kind"] == "Secret"]
    assert secrets
    assert {v for s in secrets for v in (s.get("stringData") or {}).values()} == {""}


def test_the_secret_check_bites():
    """A literal value and a value read from another variable are both reported."""
    path = "services/internal/users/deploy/secret.yaml"
    text = (ROOT / path).read_text(encoding="utf-8")
    literal = text.replace(
        '{{ printf "%q" (envOr "USERS_POSTGRES_PASSWORD" "") }}', '"hunter2-hunter2"'
    )
    other = text.replace('(envOr "USERS_POSTGRES_PASSWORD"', '(envOr "POSTGRES_PASSWORD"')
    expected = [f"{path}: Secret users-secret USERS_POSTGRES_PASSWORD is not envOr of its own name"]
    assert secret_problems(path, literal) == expected
    assert secret_problems(path, other) == expected


def test_generated_config_maps_and_secrets_are_fresh():
    """The ConfigMap and Secret of each service are exactly what `svcinfra env manifests` writes."""
    stale = [str(p) for s in SERVICES for p in stale_files(manifest_files(s))]
    assert stale == []


@pytest.mark.parametrize("env", ENVS)
def test_each_service_config_loads_from_what_its_containers_get(env):
    """CF-1, CF-4, CF-6: the Config validates from each container's envFrom and env, in order."""
    stack = full_stack(env)
    checked = [
        (service.name, p)
        for _, service, obj in service_objects(stack)
        if obj["kind"] == "Deployment"
        for p in [None, *env_problems(stack, obj, service)]
    ]
    assert {name for name, _ in checked} >= {"users", "notifications"}
    assert [p for _, p in checked if p] == []


def test_the_env_check_bites():
    """Without the service's Secret its Config fails on the password, and the check says so."""
    stack = full_stack("dev")
    deployment = users_deployment(stack)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["envFrom"] = [s for s in container["envFrom"] if "secretRef" not in s]
    problems = env_problems(stack, deployment, load_service(ROOT / "services/internal/users"))
    assert len(problems) == 1
    assert "users-api/users" in problems[0]
    assert "USERS_POSTGRES_PASSWORD" in problems[0]


def test_the_admin_secret_reaches_only_the_init_containers():
    """CF-4: a service's own process never gets the admin credentials."""
    stack = full_stack("dev")
    for _, _, obj in service_objects(stack):
        spec = pod_spec(obj)
        if spec is None:
            continue
        for container in spec["containers"]:
            values, _ = effective_env(stack, container)
            assert "POSTGRES_PASSWORD" not in values, obj["metadata"]["name"]
            assert "RABBITMQ_ADMIN_PASSWORD" not in values, obj["metadata"]["name"]


@pytest.mark.parametrize("env", ENVS)
def test_workloads_are_restricted(env):
    """runAsNonRoot, no privilege escalation, resources everywhere; read-only root for services."""
    stack = full_stack(env)
    services = {id(obj) for _, _, obj in service_objects(stack)}
    workloads = [obj for _, obj in stack.objects() if pod_spec(obj) is not None]
    assert workloads
    problems = [p for obj in workloads for p in security_problems(obj, service=id(obj) in services)]
    assert problems == []


def test_the_security_check_bites():
    """A pod without runAsNonRoot and a writable root filesystem are reported."""
    deployment = users_deployment(full_stack("dev"))
    spec = deployment["spec"]["template"]["spec"]
    del spec["securityContext"]["runAsNonRoot"]
    spec["containers"][0]["securityContext"] = {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": False,
    }
    problems = security_problems(deployment, service=True)
    assert "users-api/users: root filesystem writable" in problems
    assert "users-api/migrate: runAsNonRoot is not set" in problems


@pytest.mark.parametrize("env", ENVS)
def test_probes_init_order_and_grace(env):
    """Probes on the tech port; init containers in order; grace above drain plus shutdown."""
    stack = full_stack(env)
    problems = []
    deployments = 0
    for _, service, obj in service_objects(stack):
        if obj["kind"] == "Deployment":
            deployments += 1
            problems += probe_problems(obj, tech_port(service)) + init_problems(obj, service)
    assert deployments >= 4
    assert problems == []


def test_the_probe_and_init_checks_bite():
    """A probe on the API port, swapped init containers and a short grace period are reported."""
    deployment = users_deployment(full_stack("dev"))
    spec = deployment["spec"]["template"]["spec"]
    spec["containers"][0]["readinessProbe"]["httpGet"]["port"] = "http"
    spec["initContainers"][2], spec["initContainers"][3] = (
        spec["initContainers"][3],
        spec["initContainers"][2],
    )
    spec["terminationGracePeriodSeconds"] = 20
    users = load_service(ROOT / "services/internal/users")
    assert probe_problems(deployment, tech_port(users)) == [
        "users-api/users: readinessProbe is not GET /health/readyz on the tech port 8081"
    ]
    problems = init_problems(deployment, users)
    assert len(problems) == 2
    assert "create-rabbitmq-user', 'migrate']" in problems[0]
    assert "terminationGracePeriodSeconds" in problems[1]


def test_the_drain_check_bites():
    """Issue 17: a grace period of 25 s (= 5 s drain + 20 s shutdown), a preStop sleep and a
    readiness probe slower than the drain delay each fail the check."""
    deployment = users_deployment(full_stack("dev"))
    users = load_service(ROOT / "services/internal/users")
    assert drain_problems(deployment, users) == []
    spec = deployment["spec"]["template"]["spec"]
    spec["terminationGracePeriodSeconds"] = 25
    container = spec["containers"][0]
    container["lifecycle"] = {"preStop": {"sleep": {"seconds": 5}}}
    container["readinessProbe"]["periodSeconds"] = 5
    assert drain_problems(deployment, users) == [
        (
            "users-api: terminationGracePeriodSeconds is not above HTTP_DRAIN_DELAY (5) "
            "+ SHUTDOWN_TIMEOUT (20)"
        ),
        (
            "users-api/users: a preStop hook delays the SIGTERM that starts the drain "
            "(HTTP_DRAIN_DELAY)"
        ),
        "users-api/users: readiness takes 10 s to fail, more than HTTP_DRAIN_DELAY (5)",
    ]


@pytest.mark.parametrize("env", ENVS)
def test_service_images_are_the_ones_services_yaml_declares(env):
    """CI-3: each container running a service's image runs exactly services.yaml's tag."""
    stack = full_stack(env)
    seen = 0
    for entry, _, obj in service_objects(stack):
        spec = pod_spec(obj)
        if spec is None:
            continue
        image = f"{entry['image']['repository']}:{entry['image']['tagTemplate']}"
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            if container["image"].startswith(entry["image"]["repository"] + ":"):
                seen += 1
                assert container["image"] == image, (obj["metadata"]["name"], container["name"])
    assert seen >= 5


def test_no_password_is_on_a_command_line():
    """Scripts read credentials from the environment; no command or argument names a value."""
    stack = full_stack("dev")
    values = {v for k, v in stack.ctx.env_map.items() if "PASSWORD" in k or "KEY" in k}
    for _, obj in stack.objects():
        spec = pod_spec(obj)
        for container in (
            [] if spec is None else [*spec.get("initContainers", []), *spec["containers"]]
        ):
            line = " ".join([*container.get("command", []), *container.get("args", [])])
            assert not any(v in line for v in values), container["name"]
    scripts = yaml.safe_load(render_objects_text("deploy/scripts.yaml", stack))["data"]
    assert all("set -x" not in body for body in scripts.values())


def render_objects_text(path: str, stack: Stack) -> str:
    return yaml.safe_dump(render_objects((ROOT / path).read_text(encoding="utf-8"), stack.ctx)[0])
