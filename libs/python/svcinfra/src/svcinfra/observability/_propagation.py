"""W3C Trace Context of an incoming request, read without the propagator API's machinery.

`opentelemetry.propagate.extract` builds a getter, walks the carrier's keys and creates a
context for every request; a server reading one header from an ASGI scope needs none of it.
"""

from __future__ import annotations

import random
import re
from typing import Final

from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TraceState

# version-trace_id-parent_id-flags, lowercase hex; a later version may append fields after a
# `-` (https://www.w3.org/TR/trace-context/#versioning-of-traceparent). The same grammar as
# opentelemetry's TraceContextTextMapPropagator.
_TRACEPARENT: Final = re.compile(
    rb"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-[^\r\n]*)?"
)
_NO_VERSION: Final = b"ff"
_VERSION_00: Final = b"00"
_NOT_SAMPLED: Final = TraceFlags(TraceFlags.DEFAULT)
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)
_ID_BITS: Final = (128, 64)


def parse_traceparent(value: bytes, tracestate: bytes | None = None) -> SpanContext | None:
    """The remote span context a `traceparent` header names; None when it is not valid.

    Invalid means: not the grammar above, version `ff`, version `00` with extra fields, or an
    all-zero trace or parent id; the trace is then started afresh, as the W3C spec says.
    `tracestate` is kept only with a valid parent (and dropped when it is malformed).
    """
    match = _TRACEPARENT.fullmatch(value.strip())
    if match is None:
        return None
    version, trace_hex, span_hex, flags_hex, extra = match.groups()
    if version == _NO_VERSION or (version == _VERSION_00 and extra):
        return None
    trace_id, span_id = int(trace_hex, 16), int(span_hex, 16)
    if not trace_id or not span_id:
        return None
    state = None
    if tracestate:
        state = TraceState.from_header([tracestate.decode("latin-1")])
    return SpanContext(
        trace_id,
        span_id,
        is_remote=True,
        trace_flags=_SAMPLED if int(flags_hex, 16) & TraceFlags.SAMPLED else _NOT_SAMPLED,
        trace_state=state,
    )


def new_trace_id() -> int:
    """A random, non-zero 128-bit trace id (what the SDK's RandomIdGenerator draws)."""
    trace_id = random.getrandbits(_ID_BITS[0])
    while not trace_id:
        trace_id = random.getrandbits(_ID_BITS[0])
    return trace_id


def unsampled_span(trace_id: int, trace_state: TraceState | None = None) -> NonRecordingSpan:
    """A span that records nothing but carries ids: for the logs and the calls of a request.

    Its span id is new, as the SDK gives an unsampled span: the calls the request makes name it
    as their parent in the `traceparent` they send on, with the not-sampled flag.
    """
    span_id = random.getrandbits(_ID_BITS[1])
    while not span_id:
        span_id = random.getrandbits(_ID_BITS[1])
    context = SpanContext(
        trace_id, span_id, is_remote=False, trace_flags=_NOT_SAMPLED, trace_state=trace_state
    )
    return NonRecordingSpan(context)
