"""TLS in the rendered manifests (issue 17, docs/tls.md): what the Config verifies is mounted.

In staging and prod every container that connects to PostgreSQL, Redis or RabbitMQ gets a CA
file for each (the shared ConfigMap), and that file exists in the pod: a read-only mount of a
Secret deployed in that environment, holding a key of the file's name. Dev-like environments
connect to their in-namespace servers in plaintext, with no CA file set.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest
from stack import (
    DEV_LIKE,
    PROD_LIKE,
    SLOTS,
    Stack,
    deploy_env,
    effective_env,
    load_stack,
    pod_spec,
    service_folders,
)

from svcinfra.envtool import load_service

SERVICES = [load_service(folder) for folder in service_folders()]
FILE_SUFFIXES = ("_CA_FILE", "_CERT_FILE", "_KEY_FILE")
# The connecting services and the servers each one uses.
SERVERS = {"users": ("POSTGRES", "REDIS", "RABBITMQ"), "notifications": ("POSTGRES", "RABBITMQ")}


def mounted(
    stack: Stack, where: str, container: dict[str, Any], volumes: dict[str, Any], path: str
) -> str | None:
    """None when `path` is a key of a Secret deployed in `stack`, mounted read-only there."""
    file = PurePosixPath(path)
    for mount in container.get("volumeMounts", []):
        if PurePosixPath(mount["mountPath"]) != file.parent:
            continue
        secret = (volumes.get(mount["name"]) or {}).get("secret")
        if secret is None or not mount.get("readOnly"):
            return f"{where}: {file.parent} is not a read-only Secret mount"
        deployed = stack.find("Secret", secret["secretName"])
        if deployed is None:
            return f"{where}: Secret {secret['secretName']} is not deployed in {stack.env}"
        if file.name not in (deployed.get("stringData") or {}):
            return f"{where}: Secret {secret['secretName']} has no key {file.name}"
        return None
    return f"{where}: nothing is mounted at {file.parent} for {path}"


@pytest.mark.parametrize("env", sorted(PROD_LIKE))
def test_in_staging_and_prod_every_server_is_verified_with_a_mounted_ca(env: str) -> None:
    """Each connecting container has each server's CA file, from a mounted, deployed Secret."""
    stack = load_stack(env, deploy_env(env, SERVICES))
    problems, seen = [], set()
    for _, obj in stack.objects():
        spec = pod_spec(obj) if obj.get("kind") == "Deployment" else None
        part_of = obj.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/part-of")
        if spec is None or part_of not in SERVERS:
            continue
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        for container in [*spec.get("initContainers", []), *spec["containers"]]:
            where = f"{obj['metadata']['name']}/{container['name']}"
            values, _ = effective_env(stack, container)
            for server in SERVERS[part_of]:
                ca = values.get(f"{server}_CA_FILE", "")
                if not ca:
                    problems.append(f"{where}: {server}_CA_FILE is not set")
                    continue
                seen.add(server)
                if (problem := mounted(stack, where, container, volumes, ca)) is not None:
                    problems.append(problem)

    assert problems == []
    assert seen == {"POSTGRES", "REDIS", "RABBITMQ"}


@pytest.mark.parametrize("env", sorted(DEV_LIKE))
def test_dev_like_environments_use_their_servers_without_tls(env: str) -> None:
    """The in-namespace servers have no TLS: no CA file, sslmode disable, TLS off."""
    stack = load_stack(env, deploy_env(env, SERVICES))
    shared = stack.find("ConfigMap", "shared-config")

    assert shared is not None
    data = shared["data"]
    assert (data["POSTGRES_SSLMODE"], data["REDIS_TLS"], data["RABBITMQ_TLS"]) == (
        "disable",
        "false",
        "false",
    )
    assert [k for k, v in data.items() if k.endswith(FILE_SUFFIXES) and v] == []


def test_every_environment_is_checked() -> None:
    """The two tests above cover every environment codexctl deploys."""
    assert set(SLOTS) == DEV_LIKE | PROD_LIKE
