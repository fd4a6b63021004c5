"""ProtobufCodec: values are protobuf (RD-4), readable by other runtimes, foreign bytes refused."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cache_values_pb2 as pb
import pytest
from google.protobuf.message import DecodeError

from svcinfra.cache import CodecError, ProtobufCodec

PROTO_DIR = Path(__file__).parents[1] / "assets" / "proto"


def profile() -> object:
    return pb.UserProfile(id=42, name="Ann", email="ann@example.com", tags=["a", "b"])


def test_plain_value_is_exactly_the_message_serialization() -> None:
    """Without early refresh the stored bytes are SerializeToString(): any runtime reads them."""
    codec = ProtobufCodec(pb.UserProfile)

    data = codec.encode(profile())

    assert data == profile().SerializeToString()
    assert codec.decode(data).message == profile()


def test_trailer_round_trips_and_is_stripped() -> None:
    """The early-refresh trailer carries expiry and recompute time, not leaking into the message."""
    codec = ProtobufCodec(pb.UserProfile)

    decoded = codec.decode(
        codec.encode(profile(), expires_at_ms=1_700_000_000_123, recompute_s=0.25)
    )

    assert decoded.message == profile()
    assert decoded.expires_at_ms == 1_700_000_000_123
    assert decoded.recompute_s == 0.25
    assert decoded.message.SerializeToString() == profile().SerializeToString()


def test_value_with_trailer_is_still_a_valid_message_for_another_runtime() -> None:
    """protoc (the C++ runtime, as Go would) decodes a value with the trailer as a UserProfile."""
    data = ProtobufCodec(pb.UserProfile).encode(profile(), expires_at_ms=1, recompute_s=0.5)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            "--decode=svcinfra.testing.v1.UserProfile",
            "cache_values.proto",
        ],
        input=data,
        capture_output=True,
        check=True,
        cwd=PROTO_DIR,
    )

    text = result.stdout.decode()
    assert 'name: "Ann"' in text
    assert "id: 42" in text
    assert "536870911:" in text  # kept as an unknown field, as Go's proto.Unmarshal does


def test_plain_bytes_from_another_writer_decode_without_trailer() -> None:
    """Bytes written by a service that knows nothing of the trailer decode with no metadata."""
    decoded = ProtobufCodec(pb.UserProfile).decode(profile().SerializeToString())

    assert decoded.message == profile()
    assert (decoded.expires_at_ms, decoded.recompute_s) == (0, 0.0)


def test_newer_schema_fields_are_accepted() -> None:
    """An unknown field number that the message does not declare comes from a newer schema: fine."""
    newer = profile().SerializeToString() + bytes([(7 << 3) | 0, 1])  # field 7, varint 1

    assert ProtobufCodec(pb.UserProfile).decode(newer).message.id == 42


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b'{"id": 42, "name": "Ann"}', id="json"),
        pytest.param(b"\x80\x04\x95\x10\x00", id="pickle-prefix"),
        pytest.param(b"\x12\x02\xff\xfe", id="bad-utf8"),
        pytest.param(b"\x12\x10Ann", id="truncated"),
    ],
)
def test_corrupt_values_raise_decode_error(data: bytes) -> None:
    """Bytes that are not a UserProfile raise DecodeError (the cache turns it into a miss)."""
    with pytest.raises(DecodeError):
        ProtobufCodec(pb.UserProfile).decode(data)


def test_foreign_message_is_refused_even_though_protobuf_would_parse_it() -> None:
    """An Invoice parses as a UserProfile; a declared field with a wrong wire type gives it away."""
    invoice = pb.Invoice(id=1, amount_cents=500, rate=1.5).SerializeToString()
    assert pb.UserProfile.FromString(invoice).id == 1  # what plain protobuf would hand back

    with pytest.raises(DecodeError, match="another message type"):
        ProtobufCodec(pb.UserProfile).decode(invoice)


@pytest.mark.parametrize(
    "codec",
    [dict, "UserProfile", None, 42],
    ids=["class", "str", "none", "int"],
)
def test_codec_must_be_a_message_class(codec: object) -> None:
    """Anything but a generated protobuf class is refused (RD-4)."""
    with pytest.raises(CodecError, match="RD-4"):
        ProtobufCodec(codec)  # type: ignore[arg-type]


def test_message_declaring_the_trailer_field_is_refused() -> None:
    """A message that uses the reserved field number cannot be a cache value."""
    with pytest.raises(CodecError, match="536870911"):
        ProtobufCodec(pb.ClaimsTrailer)


def test_encoding_another_type_is_refused() -> None:
    """Writing an Invoice through a UserProfile codec is a programming error, raised."""
    with pytest.raises(CodecError, match=r"expected a svcinfra\.testing\.v1\.UserProfile"):
        ProtobufCodec(pb.UserProfile).encode(pb.Invoice(id=1))
