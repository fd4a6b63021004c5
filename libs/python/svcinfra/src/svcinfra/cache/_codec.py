"""`ProtobufCodec`: cached values are protobuf messages (RD-4), readable by any protobuf runtime."""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Generic, TypeVar

# protobuf ships no type stubs (types-protobuf is not a dependency yet).
from google.protobuf.message import DecodeError, Message
from google.protobuf.unknown_fields import UnknownFieldSet

from ._errors import CodecError

__all__ = ["TRAILER_FIELD", "Decoded", "ProtobufCodec"]

M = TypeVar("M", bound=Message)

# The largest legal field number carries the early-refresh metadata (XFetch: logical expiry and
# measured recompute time). Appended as one length-delimited field, the bytes stay a valid
# serialization of the message: Go's proto.Unmarshal or protoc --decode read the value and keep
# this field as an unknown one. It has a fixed size so that it is found without parsing.
TRAILER_FIELD = 536_870_911
_TRAILER_BODY = struct.Struct("<qd")  # logical expiry (unix ms), recompute time (s)
_TRAILER_HEAD = bytes.fromhex("faffffff0f") + bytes([_TRAILER_BODY.size])  # tag, length
_TRAILER_SIZE = len(_TRAILER_HEAD) + _TRAILER_BODY.size


@dataclass(frozen=True, slots=True)
class Decoded(Generic[M]):
    """A decoded value and, when it was written with one, its early-refresh trailer."""

    message: M
    expires_at_ms: int = 0
    recompute_s: float = 0.0


class ProtobufCodec(Generic[M]):
    """Encode and decode one protobuf message type, refusing bytes of another type.

    Protobuf parsing is lenient: bytes of a foreign message often parse "successfully", with the
    fields whose wire type does not match kept as unknown fields. A field number that this
    message *declares* but that arrived as an unknown field can only mean another type (or a
    forbidden type change, see the schema evolution rules), so decoding refuses it. Unknown
    numbers that are not declared are fine: they come from a newer schema.

    Raises:
        CodecError: `message_type` is not a protobuf message class, or declares `TRAILER_FIELD`.
    """

    __slots__ = ("_declared", "message_type")

    def __init__(self, message_type: type[M]) -> None:
        if not _is_message_class(message_type):
            raise CodecError(
                f"the codec must be a generated protobuf message class, not {message_type!r} "
                "(RD-4: one serialization format, protobuf)",
            )
        declared = frozenset(message_type.DESCRIPTOR.fields_by_number)
        if TRAILER_FIELD in declared:
            raise CodecError(
                f"{message_type.DESCRIPTOR.full_name} declares field {TRAILER_FIELD}, "
                "which svcinfra.cache reserves for its early-refresh trailer",
            )
        self.message_type = message_type
        self._declared = declared

    def __repr__(self) -> str:
        return f"ProtobufCodec({self.message_type.DESCRIPTOR.full_name})"

    def encode(self, message: M, *, expires_at_ms: int = 0, recompute_s: float = -1.0) -> bytes:
        """Serialize `message`; with `recompute_s >= 0`, append the early-refresh trailer.

        Raises:
            CodecError: `message` is not an instance of this codec's message type.
        """
        if type(message) is not self.message_type:
            raise CodecError(
                f"expected a {self.message_type.DESCRIPTOR.full_name}, "
                f"got {type(message).__name__}",
            )
        data: bytes = message.SerializeToString()
        if recompute_s < 0:
            return data
        return data + _TRAILER_HEAD + _TRAILER_BODY.pack(expires_at_ms, recompute_s)

    def decode(self, data: bytes) -> Decoded[M]:
        """Parse `data`, stripping the early-refresh trailer if it has one.

        Raises:
            DecodeError: `data` is not a serialization of this message type.
        """
        expires_at_ms, recompute_s = 0, 0.0
        if len(data) >= _TRAILER_SIZE and data[-_TRAILER_SIZE : -_TRAILER_BODY.size] == (
            _TRAILER_HEAD
        ):
            expires_at_ms, recompute_s = _TRAILER_BODY.unpack_from(
                data, len(data) - _TRAILER_SIZE + len(_TRAILER_HEAD)
            )
            data = data[:-_TRAILER_SIZE]
        message = self.message_type.FromString(data)
        unknown = UnknownFieldSet(message)
        for index in range(len(unknown)):  # the stubs declare indexing, not iteration
            item = unknown[index]
            if item.field_number in self._declared:
                raise DecodeError(
                    f"field {item.field_number} of {self.message_type.DESCRIPTOR.full_name} "
                    f"has wire type {item.wire_type}: the value is of another message type",
                )
        return Decoded(message, expires_at_ms, recompute_s)


def _is_message_class(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, Message)
