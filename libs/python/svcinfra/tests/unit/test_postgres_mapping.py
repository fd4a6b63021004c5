"""Strict by-name row mapping (PG-8) and the SQLSTATE -> domain error table (PG-7), no server."""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg
import pytest

from svcinfra.postgres import (
    Conflict,
    InvalidArgument,
    QueryFailed,
    RowMappingError,
    TemporarilyUnavailable,
    Timeout,
    TransactionConflict,
)
from svcinfra.postgres._errors import translate
from svcinfra.postgres._loader import parse_file
from svcinfra.postgres._mapping import Mapper, MapperCache
from svcinfra.postgres._query import Query


class FakeRecord:
    """A stand-in for asyncpg.Record: a sequence of values with `keys()`, counting key lookups."""

    def __init__(self, **columns: object) -> None:
        self._names = list(columns)
        self._values = list(columns.values())
        self.keys_calls = 0

    def keys(self) -> list[str]:
        self.keys_calls += 1
        return self._names

    def __len__(self) -> int:
        return len(self._values)

    def __iter__(self):
        return iter(self._values)

    def __getitem__(self, index: int) -> object:
        return self._values[index]


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Tagged:
    id: int
    tag: str
    computed: str = field(default="x", init=False)


def _query() -> Query:
    query = parse_file("-- name: users__get :one\nSELECT 1", source="get.sql")
    assert isinstance(query, Query)
    return query


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (FakeRecord(id=1, name="ann"), User(1, "ann")),
        (FakeRecord(name="ann", id=1), User(1, "ann")),
    ],
    ids=["field-order", "other-order"],
)
def test_columns_map_by_name(record: FakeRecord, expected: User) -> None:
    """Columns go to the field of the same name, whatever their order."""
    assert MapperCache().map(_query(), User, record) == expected


def test_keyword_only_fields_and_init_false_fields() -> None:
    """Keyword-only dataclasses map too; fields outside __init__ need no column."""
    assert MapperCache().map(_query(), Tagged, FakeRecord(tag="t", id=2)) == Tagged(id=2, tag="t")


@pytest.mark.parametrize(
    ("record", "fragments"),
    [
        (FakeRecord(id=1, name="a", email="e"), ["column(s) ['email'] have no field in User"]),
        (FakeRecord(id=1), ["field(s) ['name'] of User have no column"]),
        (
            FakeRecord(id=1, nick="a"),
            ["column(s) ['nick'] have no field", "field(s) ['name'] of User have no column"],
        ),
    ],
    ids=["extra-column", "missing-field", "both"],
)
def test_mismatch_names_both_sides(record: FakeRecord, fragments: list[str]) -> None:
    """An extra column or a missing field is an error naming the query, the type and both lists."""
    with pytest.raises(RowMappingError) as caught:
        MapperCache().map(_query(), User, record)
    message = str(caught.value)
    assert message.startswith("users__get -> User:")
    for fragment in fragments:
        assert fragment in message
    assert "(PG-8)" in message


def test_check_runs_once_per_query_and_type() -> None:
    """Column names are read on first use only; later rows reuse the checked mapper."""
    cache, query = MapperCache(), _query()
    first, second = FakeRecord(id=1, name="a"), FakeRecord(id=2, name="b")
    cache.map(query, User, first)
    cache.map(query, User, second)
    assert (first.keys_calls, second.keys_calls) == (1, 0)


def test_shape_change_is_checked_again() -> None:
    """A row of another width under a cached mapper is checked again and the change reported."""
    cache, query = MapperCache(), _query()
    cache.map(query, User, FakeRecord(id=1, name="a"))
    with pytest.raises(RowMappingError, match=r"\['extra'\] have no field"):
        cache.map(query, User, FakeRecord(id=1, name="a", extra=3))


@pytest.mark.parametrize(
    ("record", "row", "error"),
    [
        (FakeRecord(count=3), int, None),
        (FakeRecord(a=1, b=2), int, "exactly one column"),
        (FakeRecord(count="3"), int, "holds str, not int"),
    ],
    ids=["scalar", "two-columns", "wrong-type"],
)
def test_scalar_rows(record: FakeRecord, row: type, error: str | None) -> None:
    """A non-dataclass row type takes the only column, which must be an instance of it."""
    if error is None:
        assert MapperCache().map(_query(), row, record) == 3
    else:
        with pytest.raises(RowMappingError, match=error):
            MapperCache().map(_query(), row, record)


def _pg(cls: type[asyncpg.PostgresError], **fields: str) -> asyncpg.PostgresError:
    exc = cls.new({"M": "duplicate key value (secret@example.com)", **fields})
    assert isinstance(exc, asyncpg.PostgresError)
    return exc


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("23505", Conflict),
        ("23503", Conflict),
        ("23P01", Conflict),
        ("23502", InvalidArgument),
        ("23514", InvalidArgument),
        ("22P02", InvalidArgument),
        ("22012", InvalidArgument),
        ("40001", TransactionConflict),
        ("40P01", TransactionConflict),
        ("57014", Timeout),
        ("25P03", Timeout),
        ("08006", TemporarilyUnavailable),
        ("57P01", TemporarilyUnavailable),
        ("57P03", TemporarilyUnavailable),
        ("53300", TemporarilyUnavailable),
        ("42P01", QueryFailed),
    ],
    ids=lambda value: value if isinstance(value, str) else value.__name__,
)
def test_sqlstates_map_to_domain_classes(code: str, expected: type) -> None:
    """Each SQLSTATE maps to its domain class; the message keeps the constraint, not the values."""
    exc = _pg(asyncpg.PostgresError, C=code, n="users_email_key", t="users")
    error = translate(exc, "users__create")
    assert type(error) is expected
    assert (error.sqlstate, error.constraint, error.table) == (code, "users_email_key", "users")
    assert "users__create" in str(error)
    assert "users_email_key" in str(error)
    assert "secret@example.com" not in str(error)


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (ConnectionRefusedError(111, "refused"), TemporarilyUnavailable),
        (asyncpg.InterfaceError("connection is closed"), TemporarilyUnavailable),
        (TimeoutError(), Timeout),
        (asyncpg.DataError("invalid input for query argument $1: 'secret'"), InvalidArgument),
        (RuntimeError("boom"), QueryFailed),
    ],
    ids=["refused", "closed", "client-timeout", "argument-encoding", "other"],
)
def test_client_side_errors_map_too(exc: Exception, expected: type) -> None:
    """Network, client timeout and encoding errors map without quoting the driver's message."""
    error = translate(exc, "users__get")
    assert type(error) is expected
    assert "secret" not in str(error)


def test_columns_in_field_order_build_with_the_dataclass_itself() -> None:
    """The compiled builder of a positional dataclass whose columns come in field order is the
    class: a row costs one constructor call and no wrapper."""
    assert Mapper(_query(), User, ["id", "name"]).build is User
    assert Mapper(_query(), User, ["name", "id"]).build("ann", 1) == User(1, "ann")


def test_many_rows_map_with_one_check() -> None:
    """`map_all` checks the first row and builds the others with the same mapper."""
    cache, query = MapperCache(), _query()
    records = [FakeRecord(name=f"n{i}", id=i) for i in range(3)]
    assert cache.map_all(query, User, records) == [User(0, "n0"), User(1, "n1"), User(2, "n2")]
    assert [record.keys_calls for record in records] == [1, 0, 0]
    assert cache.map_all(query, User, []) == []
