"""`--db`: every named query PREPAREs against the service's migrated schema (sqlc-level safety).

For each service, a temporary database is created on the server, the service's migrations are
applied with the goose-compatible `Migrator`, and every query (each template in two variants:
every optional fragment on, and off) is prepared. PostgreSQL then reports syntax errors, unknown
tables and columns; the prepared statement gives the parameter count and the result columns,
which are compared with the dataclass the repository maps the rows to.
"""

from __future__ import annotations

import asyncio
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from svcinfra.check._errors import DatabaseCheckError
from svcinfra.check.adapters import modules
from svcinfra.check.domain import Finding, Rule, RuleInfo, RuleResult
from svcinfra.postgres import Query, QueryKind, QueryLoadError, Template
from svcinfra.postgres._loader import parse_file
from svcinfra.postgres.migrate import MigrateError, Migrator, load_migrations

from ._migrations import migration_dir
from ._queries import query_files
from ._rowtypes import ROW_COMMENT, Use, dataclass_fields, uses

if TYPE_CHECKING:
    from svcinfra.check.adapters import Repo, Service


class PreparedQueries(Rule):
    """Every query prepares on the migrated schema, with the parameters and columns expected."""

    info = RuleInfo(
        rule="PG-10",
        check="query-prepares",
        summary="(--db) Every named query prepares on the service's migrated schema; the call "
        "passes as many values as it has parameters; :one / :many result columns are exactly "
        "the fields of the dataclass the rows are mapped to.",
        also=("PG-6", "PG-8"),
        fix="Fix the query or the migration as PostgreSQL's message says; make the SELECT list "
        "(or RETURNING) name exactly the dataclass's fields, aliasing where needed.",
    )
    needs_db = True

    def check(self, repo: Repo) -> RuleResult:
        """Migrate a temporary database per service and prepare each of its queries."""
        dsn = repo.memo.get(("dsn", ""))
        if not isinstance(dsn, str):
            return self.result([], 0)
        findings: list[Finding] = []
        checked = 0
        for service in repo.services:
            files = query_files(repo, service)
            if not files:
                continue
            loaded = []
            for path, model in files:
                text = repo.text(path) or ""
                try:
                    query = parse_file(text, source=repo.rel(path), folder=model)
                except QueryLoadError:
                    continue  # query-files reports it
                row = ROW_COMMENT.search(text)
                loaded.append((query, row.group("name") if row else None))
            checked += len(loaded)
            findings.extend(asyncio.run(self._service(repo, service, dsn, loaded)))
        return self.result(findings, checked)

    async def _service(
        self,
        repo: Repo,
        service: Service,
        dsn: str,
        loaded: list[tuple[Query | Template, str | None]],
    ) -> list[Finding]:
        folder = migration_dir(service)
        try:
            migrations = load_migrations(folder) if folder and folder.is_dir() else None
        except MigrateError:
            return []  # migration-files reports it
        service_modules = list(modules(repo, service))
        calls: dict[str, list[Use]] = {}
        for module in service_modules:
            for use in uses(module):
                calls.setdefault(use.query, []).append(use)
        classes = dataclass_fields(service_modules)
        name = f"svcinfra_check_{secrets.token_hex(6)}"
        await _admin(dsn, f'CREATE DATABASE "{name}"')
        try:
            target = _with_database(dsn, name)
            if migrations is not None:
                try:
                    await Migrator(migrations, target).up()
                except MigrateError as exc:
                    where = repo.rel(folder) if folder else service.rel
                    return [self.finding(where, 0, f"migrations fail on a fresh database: {exc}")]
            conn = await asyncpg.connect(target)
            try:
                findings: list[Finding] = []
                for query, row in loaded:
                    for variant in _variants(query):
                        findings.extend(
                            await self._prepare(
                                conn, variant, row, calls.get(query.name, []), classes
                            )
                        )
                return findings
            finally:
                await conn.close()
        finally:
            await _admin(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    async def _prepare(
        self,
        conn: Any,  # noqa: ANN401  (asyncpg's connection)
        query: Query,
        row: str | None,
        calls: list[Use],
        classes: dict[str, list[str]],
    ) -> list[Finding]:
        try:
            statement = await conn.prepare(query.sql)
        except asyncpg.PostgresError as exc:
            position = int(getattr(exc, "position", None) or 0)
            line = query.sql[:position].count("\n") + 1 if position else 1
            return [
                self.finding(
                    query.source,
                    line,
                    f"{query.name} does not prepare: {exc.sqlstate} {exc}",
                )
            ]
        findings = []
        columns = [attribute.name for attribute in statement.get_attributes()]
        if query.kind in {QueryKind.ONE, QueryKind.MANY} and not columns:
            findings.append(
                self.finding(query.source, 1, f"{query.name} is {query.kind} but returns no column")
            )
        parameters = len(statement.get_parameters())
        findings.extend(
            self.finding(
                use.rel,
                use.line,
                f"{query.name} takes {parameters} parameter(s); this call passes {use.values}",
                rule="PG-6",
            )
            for use in calls
            if use.values is not None and use.values != parameters
        )
        for name in {row, *(use.row for use in calls)} - {None}:
            fields = classes.get(str(name).rsplit(".", 1)[-1])
            if fields is None or not columns:
                continue
            extra = [c for c in columns if c not in fields]
            missing = [f for f in fields if f not in columns]
            if extra or missing:
                findings.append(
                    self.finding(
                        query.source,
                        1,
                        f"{query.name} returns columns {columns} but {name} has fields {fields}"
                        f" (extra columns: {extra or 'none'}; fields without a column: "
                        f"{missing or 'none'})",
                        rule="PG-8",
                    )
                )
        return findings


def _variants(query: Query | Template) -> list[Query]:
    if isinstance(query, Query):
        return [query]
    found = []
    for switch in (1, None):
        params: dict[str, object] = {slot: sorted(keys)[0] for slot, keys in query.slots.items()}  # noqa: FURB192  (sorted()[0] reads as the first allowed key)
        params |= dict.fromkeys(query.binds, 1)
        params |= dict.fromkeys(query.switches, switch)
        found.append(query.render(**params)[0])
    return found


def _with_database(dsn: str, name: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _admin(dsn: str, statement: str) -> None:
    try:
        conn = await asyncpg.connect(dsn, timeout=10)
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        raise DatabaseCheckError(f"--db: cannot connect to the server: {exc}") from exc
    try:
        await conn.execute(statement)
    except asyncpg.PostgresError as exc:
        raise DatabaseCheckError(
            f"--db: {statement.split(maxsplit=1)[0]} DATABASE failed: {exc}"
        ) from exc
    finally:
        await conn.close()
