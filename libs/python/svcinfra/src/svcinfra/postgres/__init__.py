"""PostgreSQL access: pool, named queries, strict row mapping, domain errors, metrics (PG-5..12).

A service keeps its SQL in `<pkg>/repository/postgres/<model>/sql/*.sql` (package data, one
statement per file under a `-- name: <model>__<operation> :one|:many|:exec|:execrows` header),
loads it once at start-up and runs it through one `Database`:

    queries = load_queries("users")                       # QueryLoadError: every file and line
    db = await Database.connect(config.postgres)          # closed by the composition root
    user = await db.one(queries.query("users__get_by_id"), 42, row=User)   # NotFound if none
    page, args = queries.template("users__search").render(sort="created", direction="desc", ...)
    users = await db.many(page, *args, row=User)
    async with db.transaction(isolation="serializable") as tx: ...
    await db.run_transaction(transfer, attempts=5)        # re-run on 40001 / 40P01

Rows map into frozen dataclasses by column name, strictly (`RowMappingError` names both sides).
Errors are domain-neutral (`NotFound`, `Conflict`, `InvalidArgument`, `TemporarilyUnavailable`,
`TransactionConflict`, `Timeout`) for the repository to translate into its own; the tree is in
`svcinfra.postgres._errors`. Migrations live in `svcinfra.postgres.migrate`, not imported here.
"""

from ._coalesce import Coalescer
from ._database import Database
from ._errors import (
    Conflict,
    DatabaseError,
    InvalidArgument,
    NotFound,
    ProgrammingError,
    QueryFailed,
    QueryKindMismatch,
    QueryLoadError,
    QueryProblem,
    RowMappingError,
    TemplateError,
    TemporarilyUnavailable,
    Timeout,
    TransactionAborted,
    TransactionConflict,
    UnknownQuery,
)
from ._loader import Queries, load_queries
from ._query import Query, QueryKind
from ._template import Template
from ._transaction import Isolation, Transaction, TransactionContext

__all__ = [
    "Coalescer",
    "Conflict",
    "Database",
    "DatabaseError",
    "InvalidArgument",
    "Isolation",
    "NotFound",
    "ProgrammingError",
    "Queries",
    "Query",
    "QueryFailed",
    "QueryKind",
    "QueryKindMismatch",
    "QueryLoadError",
    "QueryProblem",
    "RowMappingError",
    "Template",
    "TemplateError",
    "TemporarilyUnavailable",
    "Timeout",
    "Transaction",
    "TransactionAborted",
    "TransactionConflict",
    "TransactionContext",
    "UnknownQuery",
    "load_queries",
]
