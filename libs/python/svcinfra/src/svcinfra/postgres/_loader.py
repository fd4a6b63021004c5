"""Load a package's named queries from its `.sql` package data, failing at start-up (PG-10).

The files ship inside the wheel, as `//go:embed` embeds them in a Go binary, and are read through
`importlib.resources`: `<package>/repository/postgres/<model>/sql/*.sql`.
"""

from __future__ import annotations

import importlib.resources
from typing import TYPE_CHECKING

from ._errors import QueryLoadError, QueryProblem, UnknownQuery
from ._query import Header, HeaderError, Query, QueryKind, parse_header, parse_route
from ._session import not_a_pure_read, parse_error, session_effects
from ._sqltext import LexError, Tok, Token, shape, tokens
from ._template import Template, TemplateSyntaxError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from importlib.resources.abc import Traversable
    from types import ModuleType

DEFAULT_ROOT = "repository/postgres"


class Queries:
    """Every query and template of a package, by name; loaded once by `load_queries`.

    A repository looks its queries up when it is built, so a missing name fails at start-up:

        self._get = queries.query("users__get_by_id")
        self._search = queries.template("users__search")
    """

    __slots__ = ("_queries", "_templates")

    def __init__(self, queries: dict[str, Query], templates: dict[str, Template]) -> None:
        self._queries = queries
        self._templates = templates

    def __len__(self) -> int:
        return len(self._queries) + len(self._templates)

    def __contains__(self, name: object) -> bool:
        return name in self._queries or name in self._templates

    def __repr__(self) -> str:
        return f"<Queries {len(self._queries)} queries, {len(self._templates)} templates>"

    @property
    def names(self) -> list[str]:
        """Every loaded name, sorted."""
        return sorted([*self._queries, *self._templates])

    def query(self, name: str) -> Query:
        """Return the plain query `name`.

        Raises:
            UnknownQuery: no plain query has that name (a template is fetched with `template`).
        """
        try:
            return self._queries[name]
        except KeyError:
            hint = " (it is a template: use .template())" if name in self._templates else ""
            raise UnknownQuery(f"no query named {name!r}{hint}", query=name) from None

    def template(self, name: str) -> Template:
        """Return the template `name`.

        Raises:
            UnknownQuery: no template has that name.
        """
        try:
            return self._templates[name]
        except KeyError:
            hint = " (it is a plain query: use .query())" if name in self._queries else ""
            raise UnknownQuery(f"no template named {name!r}{hint}", query=name) from None


def load_queries(package: str | ModuleType, *, root: str = DEFAULT_ROOT) -> Queries:
    """Read every `<root>/<model>/sql/*.sql` of `package` and check them all (PG-10).

    Checks: exactly one `-- name: <model>__<operation> :one|:many|:exec|:execrows` header per
    file, before the SQL; the model is the folder's name; names are unique; one statement per
    file; placeholders are `$1..$n` without a gap; templates are well formed (PG-6).

    Raises:
        QueryLoadError: every problem found, each with its file and line; nothing is loaded.
    """
    anchor = package if isinstance(package, str) else package.__name__
    base = importlib.resources.files(package).joinpath(*root.split("/"))
    label = f"{anchor.replace('.', '/')}/{root}"
    if not base.is_dir():
        problem = QueryProblem(label, 0, "no such folder in the package")
        raise QueryLoadError((problem,))
    queries: dict[str, Query] = {}
    templates: dict[str, Template] = {}
    seen: dict[str, str] = {}
    problems: list[QueryProblem] = []
    for model, source, text in _files(base, label):
        if isinstance(text, QueryProblem):
            problems.append(text)
            continue
        try:
            loaded = parse_file(text, source=source, folder=model)
        except QueryLoadError as exc:
            problems.extend(exc.problems)
            continue
        if loaded.name in seen:
            problems.append(
                QueryProblem(
                    source, 1, f"duplicate query name {loaded.name} (also in {seen[loaded.name]})"
                )
            )
            continue
        seen[loaded.name] = source
        if isinstance(loaded, Template):
            templates[loaded.name] = loaded
        else:
            queries[loaded.name] = loaded
    if problems:
        raise QueryLoadError(tuple(problems))
    return Queries(queries, templates)


def _files(base: Traversable, label: str) -> Iterator[tuple[str, str, str | QueryProblem]]:
    for folder in sorted(base.iterdir(), key=lambda item: item.name):
        sql = folder.joinpath("sql")
        if not folder.is_dir() or folder.name.startswith(("_", ".")) or not sql.is_dir():
            continue
        for file in sorted(sql.iterdir(), key=lambda item: item.name):
            if file.name.endswith(".sql") and file.is_file():
                source = f"{label}/{folder.name}/sql/{file.name}"
                try:
                    yield folder.name, source, file.read_text(encoding="utf-8")
                except UnicodeDecodeError as exc:
                    yield folder.name, source, QueryProblem(source, 1, f"not UTF-8 ({exc.reason})")


def parse_file(text: str, *, source: str, folder: str | None = None) -> Query | Template:
    """Parse one query file into a `Query` or, when it has `{{ }}` tags, a `Template`.

    Raises:
        QueryLoadError: the file's problems, each with its line.
    """
    header, line, standby = _header(text, source)
    if folder is not None and header.model != folder:
        raise _problem(
            source,
            line,
            f"query {header.name} belongs to model {header.model!r} but lives in folder "
            f"{folder!r}; name it {folder}__{header.operation} (PG-10)",
        )
    try:
        pieces = list(tokens(text, template=True))
        is_template = any(piece.kind is Tok.TAG for piece in pieces)
        if not is_template:
            pieces = list(tokens(text))
    except LexError as exc:
        raise _problem(source, exc.line, str(exc)) from exc
    query_shape = shape(pieces)
    if query_shape.statements == 0:
        raise _problem(source, line, "no SQL statement after the header")
    if query_shape.statements > 1:
        raise _problem(source, line, f"{query_shape.statements} statements; one statement per file")
    if is_template:
        try:
            return Template(
                name=header.name,
                model=header.model,
                operation=header.operation,
                kind=header.kind,
                source=source,
                pieces=pieces,
                standby=standby,
            )
        except TemplateSyntaxError as exc:
            raise _problem(source, exc.line, str(exc)) from exc
    parameters = _check_placeholders(pieces, source)
    sql = text.strip()
    rejected = parse_error(sql)
    if rejected is not None:
        message, offset = rejected
        at = text[: text.index(sql) + offset].count("\n") + 1
        raise _problem(source, at, f"PostgreSQL's parser rejects the statement: {message}")
    if standby:
        _check_read(sql, source, line)
    return Query(
        name=header.name,
        model=header.model,
        operation=header.operation,
        kind=header.kind,
        sql=sql,
        source=source,
        parameters=parameters,
        verb=query_shape.verb,
        session_effects=session_effects(sql),
        standby=standby,
    )


def _header(text: str, source: str) -> tuple[Header, int, bool]:
    """The file's `-- name:` header, its line, and whether it declares `-- route: standby`."""
    found: tuple[Header, int] | None = None
    code_line = 0
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        try:
            header = parse_header(line)
        except HeaderError as exc:
            raise _problem(source, number, str(exc)) from exc
        if header is not None:
            if found is not None:
                raise _problem(
                    source,
                    number,
                    f"second `-- name:` header (first at line {found[1]}); one query per file",
                )
            if code_line:
                raise _problem(
                    source,
                    number,
                    f"the `-- name:` header must come before the SQL (line {code_line})",
                )
            found = (header, number)
        elif stripped and not stripped.startswith("--") and not code_line:
            code_line = number
    if found is None:
        raise _problem(source, 1, "no `-- name: <model>__<operation> :kind` header (PG-10)")
    header, number = found
    return header, number, _routed_to_standby(text, source, header)


def _routed_to_standby(text: str, source: str, header: Header) -> bool:
    """Whether the comments before the SQL declare `-- route: standby` (checked: once, a read)."""
    route: tuple[str, int] | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped and not stripped.startswith("--"):
            break  # the SQL: a comment in it is the statement's own
        try:
            target = parse_route(line)
        except HeaderError as exc:
            raise _problem(source, number, str(exc)) from exc
        if target is None:
            continue
        if route is not None:
            raise _problem(source, number, f"second `-- route:` line (first at line {route[1]})")
        route = (target, number)
    if route is None or route[0] == "primary":
        return False
    if header.kind not in (QueryKind.ONE, QueryKind.MANY):
        raise _problem(
            source,
            route[1],
            f"`-- route: standby` on a {header.kind} query; only a read (:one or :many) may "
            "run on a standby",
        )
    return True


def _check_read(sql: str, source: str, line: int) -> None:
    why = not_a_pure_read(sql)
    if why is not None:
        raise _problem(source, line, f"`-- route: standby` on a statement that {why}")


def _check_placeholders(pieces: list[Token], source: str) -> int:
    used: dict[int, int] = {}
    for piece in pieces:
        if piece.kind is Tok.PLACEHOLDER:
            used.setdefault(int(piece.text[1:]), piece.line)
    if not used:
        return 0
    if 0 in used:
        raise _problem(source, used[0], "placeholder $0; placeholders start at $1")
    highest = max(used)
    missing = [number for number in range(1, highest + 1) if number not in used]
    if missing:
        gap = ", ".join(f"${number}" for number in missing)
        raise _problem(
            source, used[highest], f"placeholders skip {gap} (up to ${highest}); use $1..$n"
        )
    return highest


def _problem(source: str, line: int, message: str) -> QueryLoadError:
    return QueryLoadError((QueryProblem(source, line, message),))
