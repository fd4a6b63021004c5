"""The committed generated code of the test schemas is what protoc generates today."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import google.protobuf

PROTO_DIR = Path(__file__).parents[1] / "assets" / "proto"


def test_regeneration_gives_identical_files(tmp_path: Path) -> None:
    """Running grpc_tools.protoc again produces byte-identical *_pb2.py and .pyi files."""
    protos = sorted(p.name for p in PROTO_DIR.glob("*.proto"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"--python_out={tmp_path}",
            f"--pyi_out={tmp_path}",
            *protos,
        ],
        check=True,
        cwd=PROTO_DIR,
    )
    fresh = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    committed = {p.name: p.read_bytes() for p in (PROTO_DIR / "generated").iterdir() if p.is_file()}

    assert protos
    assert fresh == committed


def test_generated_code_is_not_newer_than_the_runtime() -> None:
    """New gencode on an old runtime is never allowed: generator version <= runtime version."""
    header = (PROTO_DIR / "generated" / "cache_values_pb2.py").read_text()
    line = next(x for x in header.splitlines() if x.startswith("# Protobuf Python Version:"))
    generated = tuple(int(x) for x in line.split(":")[1].strip().split(".")[:2])
    runtime = tuple(int(x) for x in google.protobuf.__version__.split(".")[:2])

    assert generated <= runtime


def test_removed_fields_are_reserved_by_number_and_name() -> None:
    """The evolution rule is applied in the schema itself: field 5 and 'nickname' stay reserved."""
    text = (PROTO_DIR / "cache_values.proto").read_text()

    assert "reserved 5;" in text
    assert 'reserved "nickname";' in text
