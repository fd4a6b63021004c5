"""Per-query spans follow the parent's sampling, and clean connections skip the reset (PG-11, PG-5).

No server: `Probe.start_span` against the SDK with an in-memory exporter, `Session.reset` against
a stand-in connection.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING

import pytest
from opentelemetry import context, trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Sampler, SamplingResult
from opentelemetry.trace import INVALID_SPAN, NonRecordingSpan, SpanContext, SpanKind, TraceFlags

from svcinfra.postgres._loader import parse_file
from svcinfra.postgres._query import Query
from svcinfra.postgres._runner import SESSION_RESET, Probe, Session

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from opentelemetry.trace import Link
    from opentelemetry.util.types import Attributes


class CountingSampler(Sampler):
    """Samples everything and counts how often the SDK asked."""

    def __init__(self) -> None:
        self.calls = 0

    def should_sample(  # noqa: PLR0917  (the Sampler interface's signature)
        self,
        parent_context: context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: trace.TraceState | None = None,
    ) -> SamplingResult:
        self.calls += 1
        return ALWAYS_ON.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return "CountingSampler"


@pytest.fixture(name="probe")
def _probe() -> Probe:
    query = parse_file(
        "-- name: users__get_by_id :one\nSELECT id FROM users WHERE id = $1", source="get.sql"
    )
    assert isinstance(query, Query)
    return Probe(query, {"db.system.name": "postgresql", "db.namespace": "app"})


@pytest.fixture(name="sampler")
def _sampler() -> CountingSampler:
    return CountingSampler()


@pytest.fixture(name="exporter")
def _exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture(name="tracer")
def _tracer(sampler: CountingSampler, exporter: InMemorySpanExporter) -> trace.Tracer:
    provider = TracerProvider(sampler=sampler)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider.get_tracer("test")


@contextmanager
def _inside(span: trace.Span) -> Iterator[None]:
    token = context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        context.detach(token)


def _remote(*, sampled: bool) -> NonRecordingSpan:
    flags = TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT)
    return NonRecordingSpan(SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=flags))


def test_span_without_a_parent_is_a_recorded_root(
    probe: Probe, tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    """No request span around the query: the query's own span is a root, with its attributes."""
    span = probe.start_span(tracer)
    assert span is not None
    span.end()
    (finished,) = exporter.get_finished_spans()
    assert finished.name == "DB users__get_by_id"
    assert finished.kind is SpanKind.CLIENT
    assert finished.parent is None
    assert dict(finished.attributes or {}) == {
        "db.system.name": "postgresql",
        "db.namespace": "app",
        "db.operation.name": "SELECT",
        "db.query.summary": "users__get_by_id",
    }


def test_span_under_a_sampled_parent_is_its_child(
    probe: Probe, tracer: trace.Tracer, exporter: InMemorySpanExporter
) -> None:
    """Inside a sampled request span the query span continues its trace."""
    with _inside(_remote(sampled=True)):
        span = probe.start_span(tracer)
        assert span is not None
        span.end()
    (finished,) = exporter.get_finished_spans()
    assert finished.parent is not None
    assert (finished.context.trace_id, finished.parent.span_id) == (0xABC, 0xDEF)


def test_unsampled_parent_skips_the_span_and_the_sampler(
    probe: Probe, tracer: trace.Tracer, sampler: CountingSampler
) -> None:
    """Inside a request span the sampler dropped, no span is started and nobody is asked."""
    with _inside(_remote(sampled=False)):
        assert probe.start_span(tracer) is None
    assert sampler.calls == 0


def test_invalid_parent_is_no_parent(
    probe: Probe, tracer: trace.Tracer, sampler: CountingSampler
) -> None:
    """An invalid span in the context (no trace at all) is not an unsampled parent: the
    sampler decides, as for a root."""
    with _inside(INVALID_SPAN):
        span = probe.start_span(tracer)
        assert span is not None
        assert span.is_recording()
        span.end()
    assert sampler.calls == 1


class FakeConnection:
    """The part of asyncpg's connection the reset hook uses, counting what it is asked."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.pid_calls = 0
        self.executed: list[str] = []

    def get_server_pid(self) -> int:
        self.pid_calls += 1
        return self.pid

    def get_reset_query(self) -> str:
        return "RESET ALL"

    async def execute(self, sql: str) -> None:
        self.executed.append(sql)


async def test_reset_of_a_clean_pool_asks_nothing() -> None:
    """With no connection marked, releasing one costs no call on it at all."""
    session, con = Session(), FakeConnection(7)
    await session.reset(con)
    assert (con.pid_calls, con.executed, session.resets) == (0, [], 0)


async def test_only_the_marked_connection_is_reset_and_only_once() -> None:
    """A marked connection is reset on its next release only; another one is left alone."""
    session, dirty, clean = Session(), FakeConnection(7), FakeConnection(8)
    session.mark(dirty)
    await session.reset(clean)
    await session.reset(dirty)
    await session.reset(dirty)
    assert (clean.executed, dirty.executed, session.resets) == ([], [SESSION_RESET], 1)
