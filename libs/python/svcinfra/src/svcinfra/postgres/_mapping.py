"""Strict by-name mapping of result rows into dataclasses, as pgx's `RowToStructByName` (PG-8).

A column without a field and a field without a column are both errors, and the error names both
sides. The check runs on the first row a (query, row type) pair returns; the builder it makes is
cached, so later rows cost one length check and one constructor call: the builder takes the
record's values positionally (`build(*record)`), and when the columns come in the order of the
fields it is the dataclass itself, with no wrapper in between.
"""

from __future__ import annotations

import dataclasses
from operator import itemgetter
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import RowMappingError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from ._query import Query

T = TypeVar("T")


class Mapper:
    """Turns the rows of one query into instances of one type, after checking them once."""

    __slots__ = ("build", "width")

    def __init__(self, query: Query, row: type[Any], columns: Sequence[str]) -> None:
        self.width = len(columns)
        # Called as `build(*record)`.
        self.build: Callable[..., Any] = _builder(query, row, columns)


def _builder(query: Query, row: type[Any], columns: Sequence[str]) -> Callable[..., Any]:
    if not dataclasses.is_dataclass(row):
        return _scalar(query, row, columns)
    build: Callable[..., Any] = row  # any class: the check below makes the call safe
    fields = [field for field in dataclasses.fields(row) if field.init]
    names = [field.name for field in fields]
    extra = [column for column in columns if column not in names]
    missing = [name for name in names if name not in columns]
    duplicated = sorted({column for column in columns if columns.count(column) > 1})
    if extra or missing or duplicated:
        problems = []
        if extra:
            problems.append(f"column(s) {extra} have no field in {row.__qualname__}")
        if missing:
            problems.append(f"field(s) {missing} of {row.__qualname__} have no column")
        if duplicated:
            problems.append(f"column(s) {duplicated} appear more than once")
        raise RowMappingError(
            f"{query.name} -> {row.__qualname__}: {'; '.join(problems)} "
            f"(columns: {list(columns)}; fields: {names}) (PG-8)",
            query=query.name,
        )
    positional = all(not field.kw_only for field in fields)
    if positional and list(columns) == names:
        return build  # the dataclass itself: no wrapper frame per row
    if positional:
        pick = itemgetter(*[columns.index(name) for name in names])
        if len(names) == 1:
            return lambda *values: build(pick(values))
        return lambda *values: build(*pick(values))
    order = [(name, columns.index(name)) for name in names]
    return lambda *values: build(**{name: values[index] for name, index in order})


def _scalar(query: Query, row: type[Any], columns: Sequence[str]) -> Callable[..., Any]:
    if len(columns) != 1:
        raise RowMappingError(
            f"{query.name} -> {row.__qualname__}: a scalar row type needs exactly one column, "
            f"the query returns {list(columns)} (PG-8)",
            query=query.name,
        )
    column = columns[0]

    def build(value: Any) -> Any:  # noqa: ANN401  (the driver's value is untyped)
        if not isinstance(value, row):
            raise RowMappingError(
                f"{query.name} -> {row.__qualname__}: column {column!r} holds "
                f"{type(value).__name__}, not {row.__qualname__} (PG-8)",
                query=query.name,
            )
        return value

    return build


class MapperCache:
    """The checked mappers of one `Database`, by (query, row type)."""

    __slots__ = ("_mappers",)

    def __init__(self) -> None:
        self._mappers: dict[tuple[Query, type[Any]], Mapper] = {}

    def map(self, query: Query, row: type[T], record: Any) -> T:  # noqa: ANN401  (driver record)
        """Return `record` as a `row`, checking the columns on first use of (query, row)."""
        mapper = self._mappers.get((query, row))
        if mapper is None or mapper.width != len(record):
            # A changed width means the result's shape changed under a cached statement
            # (`SELECT *` after ALTER TABLE): check again, which names the difference.
            mapper = self._mappers[query, row] = Mapper(query, row, list(record.keys()))
        result: T = mapper.build(*record)
        return result

    def map_all(self, query: Query, row: type[T], records: list[Any]) -> list[T]:
        """Return every record as a `row` (an empty list for no records)."""
        if not records:
            return []
        first = self.map(query, row, records[0])
        build = self._mappers[query, row].build
        return [first, *[build(*record) for record in records[1:]]]
