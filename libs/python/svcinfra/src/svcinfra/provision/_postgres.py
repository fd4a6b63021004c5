"""A service's PostgreSQL role and database, created or updated by an admin (CF-4, PG-12).

The role gets LOGIN and a SCRAM-SHA-256 verifier (never the password: the statement text is
what `log_statement` and `pg_stat_statements` keep) and nothing else; the database is owned by
it and closed to PUBLIC, so no other role can connect (PG-12). Idempotent: an existing role
gets the current password (a rotated Secret takes effect on the next start), an existing
database is kept.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

import asyncpg

from ._errors import ProvisionError
from ._hashes import scram_verifier

SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
SSL_MODES: tuple[str, ...] = get_args(SslMode)
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_TIMEOUT = 10.0


def _identifier(name: str, what: str) -> str:
    """`name` quoted, after checking it is a plain lowercase identifier (no quoting games)."""
    if not _NAME.match(name):
        raise ProvisionError(f"{what} {name!r} is not a plain lowercase identifier ([a-z0-9_])")
    return f'"{name}"'


async def ensure_postgres(
    role: str,
    database: str,
    password: str,
    *,
    dsn: str,
    admin_password: str | None = None,
    ssl: SslMode | None = None,
) -> list[str]:
    """Create or update `role` (LOGIN, `password` as a verifier) and `database` owned by it.

    Args:
        role: the service's role.
        database: the service's database.
        password: the role's password; only its SCRAM verifier leaves this process.
        dsn: the admin's connection URL (without a password).
        admin_password: the admin's password, if the server asks for one.
        ssl: the admin connection's sslmode (`disable`, `require`, `verify-full`, ...).

    Returns:
        The SQL statements sent, in order (they carry the verifier, never the password).

    Raises:
        ProvisionError: a name is not a plain identifier, or the server refused (its message).
    """
    role_id = _identifier(role, "role")
    db_id = _identifier(database, "database")
    if not password:
        raise ProvisionError(f"the password of role {role!r} is empty")
    verifier = scram_verifier(password)  # base64, '$' and ':' only: safe inside a literal
    sent: list[str] = []
    try:
        admin = await asyncpg.connect(dsn, password=admin_password, ssl=ssl, timeout=_TIMEOUT)
    except (OSError, asyncpg.PostgresError) as exc:
        raise ProvisionError(f"PostgreSQL: cannot connect as the admin: {exc}") from exc
    try:
        exists = await admin.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", role)
        verb = "ALTER" if exists else "CREATE"
        statements = [f"{verb} ROLE {role_id} WITH LOGIN PASSWORD '{verifier}'"]
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database):
            statements.append(f"CREATE DATABASE {db_id} OWNER {role_id}")
        statements += [
            f"ALTER DATABASE {db_id} OWNER TO {role_id}",
            f"REVOKE ALL ON DATABASE {db_id} FROM PUBLIC",
        ]
        for statement in statements:
            await admin.execute(statement)
            sent.append(statement)
    except asyncpg.PostgresError as exc:
        raise ProvisionError(f"PostgreSQL: cannot provision {role}/{database}: {exc}") from exc
    finally:
        await admin.close()
    return sent


async def drop_postgres(role: str, database: str, *, dsn: str) -> None:
    """Drop `database` (closing its connections) and `role`, if they exist (tests, dev stack)."""
    role_id, db_id = _identifier(role, "role"), _identifier(database, "database")
    try:
        admin = await asyncpg.connect(dsn, timeout=_TIMEOUT)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {db_id} WITH (FORCE)")
            await admin.execute(f"DROP ROLE IF EXISTS {role_id}")
        finally:
            await admin.close()
    except (OSError, asyncpg.PostgresError) as exc:
        raise ProvisionError(f"PostgreSQL: cannot drop {role}/{database}: {exc}") from exc
