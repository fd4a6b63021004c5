"""What a receiver is: a small type inference per module for the rules that look at calls.

The rules used to recognise a Redis client by its variable's name (`self._redis`); code names its
clients `client`, `store` or `r` as often. This module tells what an expression is from what the
module itself says, without importing it:

- imports, with their aliases (`import httpx as hx`, `from redis.asyncio import Redis as R`);
- annotations of parameters, assignments, class attributes and function returns
  (`client: redis.asyncio.Redis`, `def make() -> httpx.AsyncClient`, `Optional[...]`, `X | None`,
  string annotations);
- assignments from known constructors and factories (`redis.asyncio.from_url(...)`,
  `httpx.AsyncClient(...)`, `requests.Session()`, `asyncpg.create_pool(...)`, svcinfra's
  `Database` and `Cache`), through `await` and `with ... as name`;
- what a known receiver's methods return (`client.pipeline()`, `pool.acquire()`,
  `db.transaction()`, `conn.fetchrow(...)` is one row, `conn.fetch(...)` a list of rows).

Inference is flow-insensitive within a function (the last binding of a name wins), which is what
service code needs: a name rarely changes what it holds. Where nothing is known, `guess` falls back
to the old name heuristic and says so: a finding built on it carries low confidence.
"""

from __future__ import annotations

import ast
import contextlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Iterator


class Kind(StrEnum):
    """What a value is, as far as the rules care."""

    REDIS = "a Redis client"
    REDIS_PIPELINE = "a Redis pipeline"
    CACHE = "an svcinfra cache"
    HTTPX = "an httpx client"
    REQUESTS = "a requests session"
    AIOHTTP = "an aiohttp session"
    HTTP_ADAPTER = "an svcinfra HTTP client"
    POSTGRES = "a PostgreSQL connection or pool"
    ORM = "an ORM session"
    PUBLISHER = "a message publisher"
    ROW = "a result row"
    ROWS = "a list of result rows"


HTTP_KINDS: Final = frozenset({Kind.HTTPX, Kind.REQUESTS, Kind.AIOHTTP, Kind.HTTP_ADAPTER})
REDIS_KINDS: Final = frozenset({Kind.REDIS, Kind.REDIS_PIPELINE})
# kinds whose calls cross the network to something other than the database itself (PG-12)
NETWORK_KINDS: Final = frozenset({*HTTP_KINDS, *REDIS_KINDS, Kind.CACHE, Kind.PUBLISHER})


@dataclass(frozen=True, slots=True)
class Inferred:
    """A kind, and whether the module says so (certain) or a name suggests it (a guess)."""

    kind: Kind
    certain: bool = True
    why: str = ""


# A class or a factory (a fully qualified name) -> what calling it, or an annotation naming it,
# gives.
_TYPES: Final[dict[str, Kind]] = {
    **dict.fromkeys(
        (
            "redis.Redis",
            "redis.StrictRedis",
            "redis.client.Redis",
            "redis.client.StrictRedis",
            "redis.from_url",
            "redis.Redis.from_url",
            "redis.StrictRedis.from_url",
            "redis.asyncio.Redis",
            "redis.asyncio.StrictRedis",
            "redis.asyncio.client.Redis",
            "redis.asyncio.from_url",
            "redis.asyncio.Redis.from_url",
            "redis.asyncio.Redis.from_pool",
            "redis.cluster.RedisCluster",
            "redis.RedisCluster",
            "redis.asyncio.RedisCluster",
            "redis.asyncio.cluster.RedisCluster",
            "redis.sentinel.Sentinel.master_for",
        ),
        Kind.REDIS,
    ),
    **dict.fromkeys(
        (
            "redis.client.Pipeline",
            "redis.asyncio.client.Pipeline",
            "redis.cluster.ClusterPipeline",
        ),
        Kind.REDIS_PIPELINE,
    ),
    **dict.fromkeys(("svcinfra.cache.Cache", "svcinfra.cache.CacheClient"), Kind.CACHE),
    **dict.fromkeys(("httpx.Client", "httpx.AsyncClient"), Kind.HTTPX),
    **dict.fromkeys(
        ("requests.Session", "requests.session", "requests.sessions.Session"), Kind.REQUESTS
    ),
    "aiohttp.ClientSession": Kind.AIOHTTP,
    **dict.fromkeys(
        ("svcinfra.httpclient.HttpClient", "svcinfra.httpclient.Client"), Kind.HTTP_ADAPTER
    ),
    **dict.fromkeys(
        (
            "asyncpg.connect",
            "asyncpg.create_pool",
            "asyncpg.Connection",
            "asyncpg.Pool",
            "asyncpg.pool.Pool",
            "asyncpg.connection.Connection",
            "psycopg.connect",
            "psycopg.AsyncConnection.connect",
            "psycopg.Connection",
            "psycopg.AsyncConnection",
            "psycopg2.connect",
            "svcinfra.postgres.Database",
            "svcinfra.postgres.Transaction",
        ),
        Kind.POSTGRES,
    ),
    **dict.fromkeys(
        (
            "sqlalchemy.orm.Session",
            "sqlalchemy.ext.asyncio.AsyncSession",
            "sqlalchemy.orm.sessionmaker",
            "sqlalchemy.ext.asyncio.async_sessionmaker",
        ),
        Kind.ORM,
    ),
    **dict.fromkeys(
        (
            "svcinfra.messaging.Publisher",
            "svcinfra.messaging.publisher.Publisher",
            "aio_pika.Exchange",
            "aio_pika.abc.AbstractExchange",
            "aio_pika.Channel",
            "aio_pika.abc.AbstractChannel",
        ),
        Kind.PUBLISHER,
    ),
}

# (receiver kind, method) -> what the call gives
_METHODS: Final[dict[tuple[Kind, str], Kind]] = {
    (Kind.REDIS, "pipeline"): Kind.REDIS_PIPELINE,
    (Kind.REDIS_PIPELINE, "pipeline"): Kind.REDIS_PIPELINE,
    (Kind.POSTGRES, "acquire"): Kind.POSTGRES,
    (Kind.POSTGRES, "transaction"): Kind.POSTGRES,
    (Kind.POSTGRES, "connection"): Kind.POSTGRES,
    (Kind.POSTGRES, "cursor"): Kind.POSTGRES,
    **{(Kind.POSTGRES, name): Kind.ROW for name in ("fetchrow", "one", "fetchone", "maybe_one")},
    **{(Kind.POSTGRES, name): Kind.ROWS for name in ("fetch", "many", "fetchall", "fetchmany")},
    (Kind.ORM, "begin"): Kind.ORM,
    (Kind.ORM, "begin_nested"): Kind.ORM,
    (Kind.REQUESTS, "__call__"): Kind.REQUESTS,
}

# fetch methods whose names say what they return, whatever the receiver
_DRIVER_FETCHES: Final = {
    "fetchrow": Kind.ROW,
    "fetchone": Kind.ROW,
    "fetchall": Kind.ROWS,
    "fetchmany": Kind.ROWS,
}

# Names taken for a kind when nothing else is known (the old heuristic), lower-cased last part.
_NAME_HINTS: Final = (
    ("redis", Kind.REDIS),
    ("pipe", Kind.REDIS_PIPELINE),
    ("http", Kind.HTTPX),
    ("publisher", Kind.PUBLISHER),
)


def _annotation_names(node: ast.expr | None) -> Iterator[ast.expr]:
    """The type expressions an annotation may stand for (`X | None`, `Optional[X]`, `"X"`)."""
    if node is None:
        return
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        with contextlib.suppress(SyntaxError):
            yield from _annotation_names(ast.parse(node.value, mode="eval").body)
        return
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        yield from _annotation_names(node.left)
        yield from _annotation_names(node.right)
        return
    if isinstance(node, ast.Subscript):
        head = node.value
        name = head.attr if isinstance(head, ast.Attribute) else getattr(head, "id", "")
        if name in {"Optional", "Annotated", "Union", "Final", "ClassVar"}:
            inner = node.slice
            items = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            if name in {"Annotated", "Final", "ClassVar"}:
                items = items[:1]
            for item in items:
                yield from _annotation_names(item)
            return
        if name in {"list", "List", "Sequence", "Iterable"}:
            return
        yield head
        return
    yield node


@dataclass(slots=True)
class _Scope:
    names: dict[str, Inferred] = field(default_factory=dict)


class TypeMap:
    """The inferred kinds of one module's names, attributes and calls.

    Build it once per module (`types_of`), then ask `kind_of(expr, function)`.
    """

    def __init__(self, tree: ast.Module) -> None:
        """Read the module's imports, functions, classes and bindings."""
        self.tree = tree
        self.aliases: dict[str, str] = {}
        self._module = _Scope()
        self._locals: dict[int, _Scope] = {}
        self._attributes: dict[int, _Scope] = {}  # class id -> self.<name>
        self._returns: dict[str, ast.expr] = {}  # module function name -> return annotation
        self._methods: dict[tuple[int, str], ast.expr] = {}  # (class id, method) -> annotation
        self.owner: dict[int, ast.FunctionDef | ast.AsyncFunctionDef] = {}
        self.classes: dict[int, ast.ClassDef] = {}  # function id -> its class
        self.functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []
        self.strings: dict[str, str] = {}  # module-level NAME = "literal"
        self._read_imports()
        self._read_strings()
        self._read_definitions()
        self._read_bindings()

    # --- names ------------------------------------------------------------------------------

    def _read_imports(self) -> None:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        self.aliases[alias.asname] = alias.name
                    else:
                        top = alias.name.split(".")[0]
                        self.aliases[top] = top
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    self.aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"

    def _read_strings(self) -> None:
        for node in self.tree.body:
            target, value = None, None
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target, value = node.targets[0], node.value
            elif isinstance(node, ast.AnnAssign):
                target, value = node.target, node.value
            if (
                isinstance(target, ast.Name)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                self.strings[target.id] = value.value

    def text_of(self, node: ast.expr) -> str | None:
        """A string literal's value, or the value of a module constant bound to one."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            return self.strings.get(node.id)
        return None

    def qualified(self, node: ast.expr) -> str | None:
        """`hx.AsyncClient` -> `httpx.AsyncClient`: a Name / Attribute chain through imports."""
        names: list[str] = []
        while isinstance(node, ast.Attribute):
            names.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        head = self.aliases.get(node.id)
        if head is None:
            return None
        return ".".join([head, *reversed(names)])

    # --- definitions ------------------------------------------------------------------------

    def _read_definitions(self) -> None:
        for node in self.tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.returns:
                self._returns[node.name] = node.returns
        for cls in ast.walk(self.tree):
            if isinstance(cls, ast.ClassDef):
                self._read_class(cls)
        # the innermost function owns a node: outer functions come first, inner ones overwrite;
        # a function node itself belongs to the function around it
        self.functions = sorted(
            (
                f
                for f in ast.walk(self.tree)
                if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef)
            ),
            key=lambda f: (f.lineno, f.col_offset),
        )
        for func in self.functions:
            for inner in ast.walk(func):
                if inner is not func:
                    self.owner[id(inner)] = func

    def _read_class(self, node: ast.ClassDef) -> None:
        scope = self._attributes.setdefault(id(node), _Scope())
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                self.classes[id(item)] = node
                if item.returns is not None:
                    self._methods[(id(node), item.name)] = item.returns
            elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                found = self._from_annotation(item.annotation)
                if found:
                    scope.names[item.target.id] = found

    def _from_annotation(self, annotation: ast.expr | None) -> Inferred | None:
        for name in _annotation_names(annotation):
            qualified = self.qualified(name)
            if qualified in _TYPES:
                return Inferred(_TYPES[qualified], why=f"annotated {qualified}")
        return None

    # --- bindings ---------------------------------------------------------------------------

    def _read_bindings(self) -> None:
        # two passes, so that a binding may use a name bound further down (methods in any order)
        for _ in range(2):
            self._bind_block(self.tree.body, None)
            for func in self.functions:
                self._bind_function(func)

    def _bind_function(self, func: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        scope = self._locals.setdefault(id(func), _Scope())
        args = [*func.args.posonlyargs, *func.args.args, *func.args.kwonlyargs]
        for arg in args:
            found = self._from_annotation(arg.annotation)
            if found:
                scope.names[arg.arg] = found
        self._bind_block(func.body, func)

    def _bind_block(
        self, body: list[ast.stmt], func: ast.FunctionDef | ast.AsyncFunctionDef | None
    ) -> None:
        for node in _own(body):
            if isinstance(node, ast.Assign):
                found = self.kind_of(node.value, func)
                for target in node.targets:
                    self._bind(target, found, func)
            elif isinstance(node, ast.AnnAssign):
                found = self._from_annotation(node.annotation) or (
                    self.kind_of(node.value, func) if node.value else None
                )
                self._bind(node.target, found, func)
            elif isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    if item.optional_vars is not None:
                        found = self.kind_of(item.context_expr, func)
                        self._bind(item.optional_vars, found, func)
            elif isinstance(node, ast.For | ast.AsyncFor | ast.comprehension):
                found = self.kind_of(node.iter, func)
                if found and found.kind is Kind.ROWS:
                    self._bind(node.target, Inferred(Kind.ROW, found.certain, found.why), func)

    def _bind(
        self,
        target: ast.expr,
        found: Inferred | None,
        func: ast.FunctionDef | ast.AsyncFunctionDef | None,
    ) -> None:
        if found is None:
            return
        if isinstance(target, ast.Name):
            scope = self._module if func is None else self._locals.setdefault(id(func), _Scope())
            scope.names[target.id] = found
        elif (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Name)
            and target.value.id in {"self", "cls"}
            and func is not None
            and id(func) in self.classes
        ):
            cls = self.classes[id(func)]
            self._attributes.setdefault(id(cls), _Scope()).names[target.attr] = found

    # --- queries ----------------------------------------------------------------------------

    def function_of(self, node: ast.AST) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
        """The innermost function that contains `node` (None at module level)."""
        return self.owner.get(id(node))

    def kind_of(  # noqa: PLR0911  (one case per form of expression reads best flat)
        self, node: ast.expr | None, func: ast.FunctionDef | ast.AsyncFunctionDef | None
    ) -> Inferred | None:
        """What `node` is, seen from inside `func` (None: the module level)."""
        if isinstance(node, ast.Await):
            return self.kind_of(node.value, func)
        if isinstance(node, ast.Name):
            return self._name_kind(node.id, func)
        if isinstance(node, ast.Attribute):
            return self._attribute_kind(node, func)
        if isinstance(node, ast.Subscript):
            found = self.kind_of(node.value, func)
            if found and found.kind is Kind.ROWS and not isinstance(node.slice, ast.Slice):
                return Inferred(Kind.ROW, found.certain, found.why)
            return None
        if isinstance(node, ast.Call):
            return self._call_kind(node, func)
        return None

    def _name_kind(
        self, name: str, func: ast.FunctionDef | ast.AsyncFunctionDef | None
    ) -> Inferred | None:
        while func is not None:  # the function, then the functions around it (closures)
            found = self._locals.get(id(func), _Scope()).names.get(name)
            if found:
                return found
            func = self.function_of(func)
        return self._module.names.get(name)

    def _attribute_kind(
        self, node: ast.Attribute, func: ast.FunctionDef | ast.AsyncFunctionDef | None
    ) -> Inferred | None:
        if not (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"} and func):
            return None
        cls = self.classes.get(id(func))
        if cls is None:  # a closure inside a method
            outer = self.function_of(func)
            cls = self.classes.get(id(outer)) if outer else None
        if cls is None:
            return None
        return self._attributes.get(id(cls), _Scope()).names.get(node.attr)

    def _call_kind(
        self, node: ast.Call, func: ast.FunctionDef | ast.AsyncFunctionDef | None
    ) -> Inferred | None:
        qualified = self.qualified(node.func)
        if qualified in _TYPES:
            return Inferred(_TYPES[qualified], why=f"made by {qualified}()")
        if isinstance(node.func, ast.Name) and node.func.id in self._returns:
            return self._from_annotation(self._returns[node.func.id])
        if isinstance(node.func, ast.Attribute):
            return self._method_kind(node.func, func)
        if isinstance(node.func, ast.Call):  # sessionmaker()() and the like
            maker = self._call_kind(node.func, func)
            if maker is not None and maker.kind is Kind.ORM:
                return maker
        return None

    def _method_kind(
        self, method: ast.Attribute, func: ast.FunctionDef | ast.AsyncFunctionDef | None
    ) -> Inferred | None:
        receiver = method.value
        if isinstance(receiver, ast.Name) and receiver.id == "self" and func is not None:
            cls = self.classes.get(id(func))
            returns = self._methods.get((id(cls), method.attr)) if cls else None
            if returns is not None:
                return self._from_annotation(returns)
        owner = self.kind_of(receiver, func)
        if owner is not None:
            result = _METHODS.get((owner.kind, method.attr))
            return None if result is None else Inferred(result, owner.certain, owner.why)
        if method.attr in _DRIVER_FETCHES:  # DB-API and asyncpg names nothing else uses
            kind = _DRIVER_FETCHES[method.attr]
            return Inferred(kind, why=f"{method.attr}() returns {kind}")
        return None

    def guess(
        self, node: ast.expr, func: ast.FunctionDef | ast.AsyncFunctionDef | None
    ) -> Inferred | None:
        """`kind_of`, or else a kind read off the receiver's name, marked as a guess."""
        found = self.kind_of(node, func)
        if found is not None:
            return found
        if isinstance(node, ast.Await):
            node = node.value
        name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", None)
        if not isinstance(name, str):
            return None
        lowered = name.lower()
        for hint, kind in _NAME_HINTS:
            if hint in lowered:
                return Inferred(
                    kind, certain=False, why=f"its type is unknown; {name!r} suggests it"
                )
        return None


def _own(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """Every node of `body`, not descending into nested functions or classes."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        node = stack.pop()
        yield node
        children = [
            child
            for child in ast.iter_child_nodes(node)
            if not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        ]
        stack.extend(reversed(children))


_CACHE: dict[int, TypeMap] = {}


def types_of(tree: ast.Module) -> TypeMap:
    """The module's `TypeMap`, built once per tree."""
    found = _CACHE.get(id(tree))
    if found is None or found.tree is not tree:
        found = TypeMap(tree)
        _CACHE[id(tree)] = found
    return found
