"""services.yaml, rendered for every environment as codexctl renders it (CI-2..CI-6).

Each check is a function of stack.py returning problems; each is run on the real file and on a
broken copy, so that a check which cannot fail would show here.
"""

import copy
import re

import pytest
from stack import (
    DEV_LIKE,
    PROD_LIKE,
    ROOT,
    SHA,
    SLOTS,
    deployment_name_problems,
    dev_service_problems,
    header,
    image_problems,
    load_stack,
    overlay_problems,
    pyproject_version,
    schema_problems,
    service_folders,
)

ENVS = list(SLOTS)
APPS = {"users-api", "users-relay", "notifications-consumer", "notifications-relay"}
TEXT = (ROOT / "services.yaml").read_text(encoding="utf-8")


def broken(old: str, new: str, count: int = 1) -> str:
    """services.yaml with `count` occurrences of a change (-1: all); the change must apply."""
    assert old in TEXT, old
    return TEXT.replace(old, new, count)


@pytest.mark.parametrize("env", ENVS)
def test_only_codexctl_keys(env):
    """Every key of the rendered file is one codexctl's StackConfig reads (it drops others)."""
    stack = load_stack(env)
    assert stack.data["project"] == header(TEXT)["project"]
    assert schema_problems(stack.data) == []


def test_the_key_check_bites():
    """A misspelt key (`overlay`, `tag_template`) is reported with its path."""
    data = copy.deepcopy(load_stack("dev").data)
    data["services"][0]["overlay"] = data["services"][0].pop("overlays")
    data["images"]["users"]["tag_template"] = "x"
    assert schema_problems(data) == [
        "$.images.users.tag_template: codexctl has no such key",
        "$.services[0].overlay: codexctl has no such key",
    ]


@pytest.mark.parametrize("env", ENVS)
def test_every_manifest_exists(env):
    """CI-3: each manifest an environment applies is a file of the repository."""
    stack = load_stack(env)
    paths = [
        ref["path"] for e in [*stack.infrastructure(), *stack.services()] for ref in e["manifests"]
    ]
    assert paths
    assert [p for p in paths if not (ROOT / p).is_file()] == []


def test_every_service_folder_is_deployed():
    """CI-3: each services/<zone>/<name>/ has entries, each with manifests in one folder only."""
    folders = set()
    for entry in load_stack("dev").services():
        owners = {"/".join(ref["path"].split("/")[:3]) for ref in entry["manifests"]}
        assert len(owners) == 1, entry["name"]
        folders |= owners
    assert folders == {f.relative_to(ROOT).as_posix() for f in service_folders()}


@pytest.mark.parametrize("env", ENVS)
def test_each_deployment_is_named_as_its_entry(env):
    """codexctl injects the image and the workspace only into the Deployment named as the entry."""
    assert deployment_name_problems(load_stack(env)) == []


def test_the_deployment_name_check_bites():
    """Both Deployments of users in one entry: the relay would run without the workspace."""
    text = broken(
        "      - path: services/internal/users/deploy.yaml\n",
        "      - path: services/internal/users/deploy.yaml\n"
        "      - path: services/internal/users/deploy-relay.yaml\n",
    )
    assert deployment_name_problems(load_stack("dev", text=text)) == [
        "services/internal/users/deploy-relay.yaml: Deployment users-relay is in entry users-api",
    ]


def test_every_build_image_has_its_dockerfile():
    """CI-1, CI-3: each build image names an existing Dockerfile."""
    images = load_stack("dev").data["images"]
    missing = [
        spec["dockerfile"]
        for spec in images.values()
        if spec.get("type") == "build" and not (ROOT / spec["dockerfile"]).is_file()
    ]
    assert missing == []


@pytest.mark.parametrize("env", ENVS)
def test_images_are_versioned_with_the_commit(env):
    """CI-2: each service's image is its build image, tagged `<version>-<sha12>`, never latest."""
    stack = load_stack(env)
    assert image_problems(stack) == []
    tags = {s["name"]: s["image"]["tagTemplate"] for s in stack.data["services"]}
    assert tags == dict.fromkeys(tags, f"0.1.0-{SHA[:12]}")


def test_outside_ci_the_tag_says_local():
    """Without GITHUB_SHA (a developer's own build) the tag is `<version>-local`, not latest."""
    stack = load_stack("dev", {})
    assert {s["image"]["tagTemplate"] for s in stack.data["services"]} == {"0.1.0-local"}


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        (
            '\'{{ printf "%s-%s" (index .Versions "users") $sha }}\'',
            "latest",
            "users-api: tagged latest",
        ),
        (
            '(index .Versions "notifications") $sha }}\'',
            '(index .Versions "notifications") "" }}\'',
            "notifications-consumer: tag '0.1.0-' does not carry the commit",
        ),
        (
            'rabbitmq-image: "3.10-management"',
            'rabbitmq-image: "latest"',
            "is not pinned",
        ),
    ],
    ids=["latest", "no-sha", "unpinned-infra"],
)
def test_the_image_check_bites(old, new, problem):
    """A latest tag, a tag without the commit, an unpinned infrastructure image are reported."""
    problems = image_problems(load_stack("prod", text=broken(old, new, -1)))
    assert any(problem in p for p in problems), problems


def test_versions_are_the_pyproject_versions():
    """CI-2: versions.<service> is the version the service's pyproject.toml declares."""
    versions = header(TEXT)["versions"]
    assert {f.name: pyproject_version(f) for f in service_folders()} == {
        f.name: versions[f.name] for f in service_folders()
    }


@pytest.mark.parametrize("env", ENVS)
def test_dev_services_stay_in_dev_like_environments(env):
    """CI-6: services/dev/* and the in-cluster data services exist only in dev, ai-staging, ai."""
    stack = load_stack(env)
    assert dev_service_problems(stack) == []
    names = {s["name"] for s in stack.services()}
    infra = {i["name"] for i in stack.infrastructure()}
    # The reference services' entries; a generated service adds its own (svcinfra new service).
    if env in DEV_LIKE:
        assert {*APPS, "fake-mail"} <= names
        assert "data-services" in infra
    else:
        assert names >= APPS
        assert "fake-mail" not in names
        assert infra == {"namespace-and-config"}


@pytest.mark.parametrize("env", sorted(PROD_LIKE))
def test_the_dev_service_check_bites(env):
    """fake-mail without its `when` would reach staging and prod, and is reported."""
    when = '\'{{ or (eq .Env "dev") (eq .Env "ai-staging") (eq .Env "ai") }}\''
    text = broken(f"  - name: fake-mail\n    when: {when}\n", "  - name: fake-mail\n")
    assert dev_service_problems(load_stack(env, text=text)) == [
        f"dev service fake-mail is deployed to {env}"
    ]


@pytest.mark.parametrize("env", ENVS)
def test_the_workspace_is_mounted_only_where_code_reloads(env):
    """CI-4: dev and ai mount the workspace at /workspace and set CODE_ROOT there; others do not."""
    assert overlay_problems(load_stack(env)) == []


def test_the_overlay_check_bites():
    """An overlay for prod (sources mounted into prod) is reported."""
    text = broken(
        "    overlays:\n      dev:\n",
        "    overlays:\n      prod:\n        dropKinds: []\n      dev:\n",
    )
    assert overlay_problems(load_stack("prod", text=text)) == [
        "users-api: overlay for prod, not a reload environment"
    ]


def _normalised(stack):
    """The non-config objects of the stack, with the environment's namespace and registry out."""
    out = {}
    for path, obj in stack.objects():
        if obj["kind"] in {"ConfigMap", "Secret", "Namespace"}:
            continue
        text = repr(obj).replace(stack.ctx.namespace, "<ns>")
        out[(path, obj["kind"], obj["metadata"]["name"])] = re.sub(
            r"registry\.<ns>\.svc", "<registry>", text
        )
    return out


def test_environments_differ_only_in_config():
    """CI-5: every environment applies the same workloads and images; only config differs.

    Dev-only entries (fake-mail, the data services; CI-6) aside, the Deployments and Services
    are the same objects in every environment once its namespace is set aside, and the image
    tags are equal: staging and prod run what ai-staging tested.
    """
    rendered = {env: _normalised(load_stack(env)) for env in ENVS}
    prod = rendered["prod"]
    for env, objects in rendered.items():
        # The data services (deploy/*.service.yaml) are dev-only; the NetworkPolicies are not.
        shared = {
            k: v
            for k, v in objects.items()
            if not (k[0].startswith("services/dev/") or k[0].endswith(".service.yaml"))
        }
        assert shared == prod, env


def test_the_environment_check_bites():
    """A Deployment that differs per environment (another command in prod) is reported."""
    rel = "services/internal/users/deploy.yaml"
    text = (ROOT / rel).read_text(encoding="utf-8")
    per_env = '["users", {{ ternary (eq .Env "prod") "serve" "debug" | printf "%q" }}]'
    changed = text.replace('args: ["users", "serve"]', "args: " + per_env, 1)
    assert changed != text
    rendered = {}
    for env in ("staging", "prod"):
        stack = load_stack(env)
        stack.overrides[rel] = changed
        rendered[env] = {k: v for k, v in _normalised(stack).items() if k[0] == rel}
    assert rendered["staging"] != rendered["prod"]
    assert [k for k in rendered["prod"] if rendered["prod"][k] != rendered["staging"][k]] == [
        (rel, "Deployment", "users-api")
    ]
