"""The committed contracts and generated code are what their sources produce."""

from __future__ import annotations

import subprocess
import sys
from importlib.resources import files
from pathlib import Path

import google.protobuf
import pytest

from svcinfra.messaging import load_package_contract

ROOT = Path(__file__).resolve().parents[5]
PROTO_DIR = ROOT / "proto" / "users" / "v1"
GENERATED = Path(str(files("users.generated")))


def test_the_generated_protobuf_code_is_fresh(tmp_path: Path) -> None:
    """`make proto` output equals the committed users/generated/ files, byte for byte (RD-4)."""
    protos = sorted(p.name for p in PROTO_DIR.glob("*.proto"))
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}",
         f"--python_out={tmp_path}", f"--pyi_out={tmp_path}", *protos],
        check=True, cwd=PROTO_DIR,
    )  # fmt: skip
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in GENERATED.glob("*_pb2.py*")}

    assert protos == ["user_profile.proto"]
    assert fresh == committed


def test_the_generated_code_is_not_newer_than_the_runtime() -> None:
    header = (GENERATED / "user_profile_pb2.py").read_text()
    line = next(x for x in header.splitlines() if x.startswith("# Protobuf Python Version:"))
    generated = tuple(int(x) for x in line.split(":")[1].strip().split(".")[:2])
    runtime = tuple(int(x) for x in google.protobuf.__version__.split(".")[:2])

    assert generated <= runtime


REGISTERED = {
    "user_id": "6f1c2a4e-8f5b-4c1e-9a57-3c1d2b0e4f11",
    "email": "ada@example.com",
    "username": "ada",
    "display_name": "Ada",
    "registered_at": "2026-11-26T08:00:00Z",
}


def test_the_events_contract_names_the_agreed_messages() -> None:
    contract = load_package_contract("users")

    assert sorted(contract.publications) == [
        "user.deleted.v1",
        "user.registered.v1",
        "user.updated.v1",
    ]
    for name, publication in contract.publications.items():
        assert publication.exchange.name == "users.events"
        assert publication.exchange.type == "topic"
        assert publication.exchange.durable
        assert publication.routing_key == name


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        (REGISTERED | {"password": "x"}, "password"),
        ({k: v for k, v in REGISTERED.items() if k != "username"}, "username"),
        (REGISTERED | {"user_id": "42"}, "user_id"),
        (REGISTERED | {"username": "Ada"}, "username"),
    ],
)
def test_a_payload_outside_the_contract_is_refused(
    payload: dict[str, object], problem: str
) -> None:
    validator = load_package_contract("users").validator("user.registered.v1")

    assert validator.problems(REGISTERED) == []
    assert problem in str(validator.problems(payload))
