"""NetworkPolicies (deploy/network-policies.yaml): who reaches which port of which pod.

The policies are evaluated as Kubernetes evaluates them (the pods a policy selects refuse every
connection no rule of theirs allows; the rules of all selecting policies add up), on the pods
the stack really deploys, labels taken from their templates. Each check also runs on a broken
copy. Structure (kubernetes-validate strict) is test_manifests.py's, for every manifest.
"""

import copy
from typing import Any

import pytest
import yaml
from stack import DEV_LIKE, ROOT, SLOTS, Stack, load_stack, pod_spec, schema, service_folders

from svcinfra.envtool import load_service

POLICY_FILE = "deploy/network-policies.yaml"
MONITORING_NS = {"kubernetes.io/metadata.name": "monitoring"}
PROMETHEUS = {"app.kubernetes.io/name": "prometheus"}
TECH = 8081
API = 8080
ENVS = list(SLOTS)

Labels = dict[str, str]


def selects(selector: dict[str, Any], labels: Labels) -> bool:
    """Kubernetes label selector semantics; an empty selector selects everything."""
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def peer_matches(peer: dict[str, Any], source: Labels, source_ns: Labels, *, same_ns: bool) -> bool:
    if "ipBlock" in peer:
        return False  # pod-to-pod traffic only here
    pods, namespaces = peer.get("podSelector"), peer.get("namespaceSelector")
    if namespaces is None and not same_ns:
        return False
    if namespaces is not None and not selects(namespaces, source_ns):
        return False
    return pods is None or selects(pods, source)


def allowed(
    stack: Stack,
    target: Labels,
    port: int,
    source: Labels,
    source_ns: Labels | None = None,
) -> bool:
    """Whether a pod labelled `source` (in `source_ns`, default: the stack's) reaches `port`."""
    own_ns = {"kubernetes.io/metadata.name": stack.ctx.namespace}
    source_ns = own_ns if source_ns is None else source_ns
    same_ns = source_ns == own_ns
    policies = [
        obj["spec"]
        for _, obj in stack.objects()
        if obj["kind"] == "NetworkPolicy"
        and "Ingress" in obj["spec"].get("policyTypes", ["Ingress"])
        and selects(obj["spec"]["podSelector"], target)
    ]
    if not policies:
        return True
    for spec in policies:
        for rule in spec.get("ingress") or []:
            peers = rule.get("from")
            ports = rule.get("ports")
            if peers and not any(
                peer_matches(p, source, source_ns, same_ns=same_ns) for p in peers
            ):
                continue
            if ports and not any(p.get("port") in {None, port} for p in ports):
                continue
            return True
    return False


def pods(stack: Stack) -> dict[str, Labels]:
    """Workload name -> labels of its pods, for every workload the stack deploys."""
    return {
        obj["metadata"]["name"]: obj["spec"]["template"]["metadata"]["labels"]
        for _, obj in stack.objects()
        if pod_spec(obj) is not None
    }


def container_ports(stack: Stack, workload: str) -> set[int]:
    obj = next(o for _, o in stack.objects() if o["metadata"]["name"] == workload and pod_spec(o))
    return {p["containerPort"] for c in pod_spec(obj)["containers"] for p in c.get("ports") or []}


def policy_problems(stack: Stack) -> list[str]:
    """What the policies get wrong: the rules of issue #10, as a list of problems."""
    problems: list[str] = []
    workloads = pods(stack)
    other_ns = {"kubernetes.io/metadata.name": "elsewhere"}
    stranger: Labels = {"app.kubernetes.io/name": "debug-shell"}

    def expect(target: str, port: int, source: Labels, ns: Labels | None, *, want: bool) -> None:
        got = allowed(stack, workloads[target], port, source, ns)
        if got != want:
            verb = "reaches" if got else "cannot reach"
            problems.append(f"{source} in {ns or 'the namespace'} {verb} {target}:{port}")

    # Default deny: a pod no other policy is about (a debugging shell) accepts nothing either.
    if allowed(stack, stranger, API, stranger):
        problems.append("a pod of the namespace is not selected by a default deny")
    for name, labels in workloads.items():
        if allowed(stack, labels, 1, stranger):
            problems.append(f"{name}: accepts connections on any port")
        if TECH in container_ports(stack, name):
            expect(name, TECH, PROMETHEUS, MONITORING_NS, want=True)
            expect(name, TECH, stranger, None, want=False)
            expect(name, TECH, PROMETHEUS, other_ns, want=False)
            expect(name, TECH, stranger, MONITORING_NS, want=False)
    expect("users-api", API, stranger, None, want=True)
    expect("users-api", API, stranger, other_ns, want=False)
    if "fake-mail" in workloads:
        expect("fake-mail", API, workloads["notifications-consumer"], None, want=True)
        for caller in ("users-api", "notifications-relay", "users-relay"):
            expect("fake-mail", API, workloads[caller], None, want=False)
    problems += data_service_problems(stack, workloads, stranger)
    return problems


def data_service_problems(
    stack: Stack, workloads: dict[str, Labels], stranger: Labels
) -> list[str]:
    """PostgreSQL, Redis and RabbitMQ reached only by the services that use them."""
    problems = []
    # The services whose Config has the server's section may reach it (users: all three,
    # notifications: postgres and rabbitmq; a generated service: what it was made with).
    sections = {
        folder.name: {entry.variable.section for entry in schema(load_service(folder))}
        for folder in service_folders()
    }
    data = {
        server: (port, {name for name, used in sections.items() if section in used})
        for server, port, section in (
            ("postgres", 5432, "postgres"),
            ("redis", 6379, "redis"),
            ("rabbitmq", 5672, "amqp"),
        )
    }
    for server, (port, users) in data.items():
        if server not in workloads:
            continue
        for source in [*workloads.values(), stranger]:
            want = source.get("app.kubernetes.io/part-of") in users
            if allowed(stack, workloads[server], port, source) != want:
                verb = "cannot reach" if want else "reaches"
                problems.append(f"{source} {verb} {server}:{port}")
    return problems


@pytest.mark.parametrize("env", ENVS)
def test_policies_follow_the_rules(env):
    stack = load_stack(env)
    assert any(obj["kind"] == "NetworkPolicy" for _, obj in stack.objects())
    assert policy_problems(stack) == []
    if env in DEV_LIKE:  # the dev-like stack has every pod the rules are about
        assert {"fake-mail", "postgres", "redis", "rabbitmq"} <= set(pods(stack))


def broken(mutate) -> Stack:
    """The dev stack with a mutated copy of the policy file."""
    stack = load_stack("dev")
    docs = [d for d in yaml.safe_load_all(_quoted(ROOT / POLICY_FILE)) if d]
    mutate({d["metadata"]["name"]: d for d in docs})
    stack.overrides[POLICY_FILE] = yaml.safe_dump_all(docs)
    return stack


def _quoted(path) -> str:
    # `{{ .Namespace }}` is the only template in the file; keep it for the renderer.
    return path.read_text(encoding="utf-8").replace("{{ .Namespace }}", "'{{ .Namespace }}'")


def test_a_broken_copy_renders_like_the_file():
    assert policy_problems(broken(lambda _: None)) == []


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda p: p["tech-port-from-monitoring"]["spec"]["ingress"][0].pop("from"), "8081"),
        (
            lambda p: p["tech-port-from-monitoring"]["spec"]["ingress"][0]["from"][0].pop(
                "podSelector"
            ),
            "'debug-shell'} in {'kubernetes.io/metadata.name': 'monitoring'} reaches",
        ),
        (
            lambda p: p["default-deny-ingress"]["spec"].update(
                podSelector={"matchLabels": {"x": "y"}}
            ),
            "not selected by a default deny",
        ),
        (
            lambda p: p["fake-mail-api-from-notifications"]["spec"]["ingress"][0].pop("from"),
            "reaches fake-mail:8080",
        ),
        (
            lambda p: p["users-api-from-namespace"]["spec"]["ingress"][0]["from"][0].update(
                namespaceSelector={}
            ),
            "elsewhere'} reaches users-api:8080",
        ),
        (
            lambda p: p["redis-from-users"]["spec"]["ingress"][0]["from"][0]["podSelector"].update(
                matchLabels={}
            ),
            "reaches redis:6379",
        ),
        (lambda p: p.pop("postgres-from-services") and None, "cannot reach postgres:5432"),
    ],
)
def test_the_policy_checks_bite(mutate, expected):
    def apply(policies: dict[str, Any]) -> None:
        target = copy.deepcopy(policies)
        mutate(target)
        for name, doc in policies.items():
            if name not in target:
                doc["spec"] = {"podSelector": {"matchLabels": {"none": "none"}}}
            else:
                doc.clear()
                doc.update(target[name])

    problems = policy_problems(broken(apply))
    assert any(expected in p for p in problems), problems
