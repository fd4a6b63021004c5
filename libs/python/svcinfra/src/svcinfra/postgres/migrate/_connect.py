"""One dedicated connection per run, holding goose's advisory lock for the whole run (PG-2, PG-5).

goose's Provider (v3.26+, with a session locker) locks with `pg_try_advisory_lock(4097083626)` on
one `*sql.Conn`, retrying every 5 s up to 60 times (`pressly/goose:lock/postgres.go`); before v3.26
its id was 5887940537704921958, and goose's CLI takes no lock at all (docs/goose.md). Using the
same id makes a Go runner and a Python runner serialize against each other. The lock is
session-level, so the connection is a
plain `asyncpg.connect`, never a pooled one: asyncpg's pool runs `pg_advisory_unlock_all()` when
a connection is released.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shlex
import time
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote, urlsplit

import asyncpg
import structlog

from svcinfra.config import TlsNames, explain_tls_failure, mask_url_credentials

from ._errors import DatabaseUnavailableError, LockTimeoutError, PoolerError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

GOOSE_LOCK_ID = 4097083626
"""goose's `DefaultLockID` for the Postgres session locker."""

_log = structlog.get_logger("svcinfra.postgres.migrate")
_KEYWORDS = {"host", "port", "user", "password", "dbname", "sslmode", "application_name"}
_PAIR = re.compile(r"(\w+)\s*=\s*(.*)", re.DOTALL)
_TLS_NAMES = TlsNames.of("POSTGRES_", switch="SSLMODE", server_name="HOST")


def normalize_dsn(dsn: str) -> str:
    """Return a `postgresql://` URL for a URL or a libpq `key=value ...` string (GOOSE_DBSTRING).

    Raises:
        DatabaseUnavailableError: the string is neither form (no credential is echoed).
    """
    text = dsn.strip()
    if text.startswith(("postgres://", "postgresql://")):
        return text
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise DatabaseUnavailableError(f"cannot parse the DSN: {exc}") from exc
    params: dict[str, str] = {}
    for word in words:
        match = _PAIR.fullmatch(word)
        if match is None or match.group(1) not in _KEYWORDS:
            key = match.group(1) if match else "?"
            raise DatabaseUnavailableError(
                f"DSN is neither a postgresql:// URL nor libpq key=value pairs (key {key!r}); "
                f"supported keys: {', '.join(sorted(_KEYWORDS))}",
            )
        params[match.group(1)] = match.group(2)
    user = quote(params.pop("user", ""), safe="")
    password = params.pop("password", None)
    if password is not None:
        user = f"{user}:{quote(password, safe='')}"
    auth = f"{user}@" if user else ""
    host = params.pop("host", "localhost")
    port = params.pop("port", "5432")
    dbname = quote(params.pop("dbname", ""), safe="")
    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in sorted(params.items()))
    return f"postgresql://{auth}{host}:{port}/{dbname}" + (f"?{query}" if query else "")


def _where(dsn: str) -> str:
    return mask_url_credentials(dsn)


async def connect(dsn: str, *, connect_timeout: float) -> asyncpg.Connection:
    """Open the run's connection, turning every failure into `DatabaseUnavailableError`.

    Raises:
        PoolerError: the connection goes through a connection pooler (see `refuse_pooler`).
    """
    url = normalize_dsn(dsn)
    try:
        conn = await asyncpg.connect(
            url,
            timeout=connect_timeout,
            server_settings={"application_name": "svcinfra-migrate"},
        )
    except TimeoutError as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to {_where(url)}: no answer within {connect_timeout:g} s",
        ) from exc
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailableError(
            f"cannot connect to {_where(url)}: {_tls_hint(url, exc) or exc}"
        ) from exc
    try:
        await refuse_pooler(conn, _where(url))
    except BaseException:
        await _close(conn, connect_timeout)
        raise
    return conn


def _tls_hint(url: str, exc: BaseException) -> str | None:
    """Name the setting behind a failed TLS handshake (issue 17): the CA file, the host."""
    parts = urlsplit(url)
    ca_file = parse_qs(parts.query).get("sslrootcert", [None])[0]
    return explain_tls_failure(
        exc, names=_TLS_NAMES, server_name=parts.hostname or "", ca_file=ca_file
    )


async def refuse_pooler(conn: asyncpg.Connection, where: str) -> None:
    """Refuse a connection that goes through a pooler: goose's session lock would not hold.

    A pooler (pgbouncer, in any pool mode; odyssey, pgcat) cannot give its client the process id
    of one server session, so the id it announces at start-up (BackendKeyData, which a plain TCP
    proxy passes through) differs from `pg_backend_pid()` of the session that answers. Session
    pooling would keep the lock, but the two modes look alike from here: migrations run direct.

    Raises:
        PoolerError: the two ids differ.
        DatabaseUnavailableError: the check itself failed.
    """
    try:
        backend = await conn.fetchval("SELECT pg_backend_pid()")
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailableError(f"connection lost at {where}: {exc}") from exc
    if backend != conn.get_server_pid():
        raise PoolerError(
            f"{where} is a connection pooler, not the server (the session that answers is "
            f"not the one announced at start-up): goose's advisory lock {GOOSE_LOCK_ID} and "
            "the migration's session do not survive transaction pooling; run migrations with "
            "a direct connection to the server (--dsn / GOOSE_DBSTRING, or POSTGRES_HOST and "
            "POSTGRES_PORT of the server with POSTGRES_POOLER=none in the migration job)",
        )


async def acquire_lock(
    conn: asyncpg.Connection,
    *,
    lock_id: int,
    lock_timeout: float,
    poll_interval: float,
) -> None:
    """Take the advisory lock, polling like goose; give up after `timeout` seconds.

    Raises:
        LockTimeoutError: another session kept the lock for the whole timeout.
    """
    deadline = time.monotonic() + lock_timeout
    waited = False
    while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", lock_id):
        if time.monotonic() >= deadline:
            raise LockTimeoutError(
                f"another migration runner held advisory lock {lock_id} for more than "
                f"{lock_timeout:g} s; it may still be running (pg_locks, locktype 'advisory'), "
                "or raise --lock-timeout",
            )
        if not waited:
            _log.info("migrate.lock_wait", lock_id=lock_id, limit_s=lock_timeout)
            waited = True
        await asyncio.sleep(min(poll_interval, max(deadline - time.monotonic(), 0.0)))


@asynccontextmanager
async def connection(dsn: str, connect_timeout: float) -> AsyncIterator[asyncpg.Connection]:
    """Yield a plain connection (no lock) and close it afterwards."""
    conn = await connect(dsn, connect_timeout=connect_timeout)
    try:
        yield conn
    finally:
        await _close(conn, connect_timeout)


async def _close(conn: asyncpg.Connection, wait: float) -> None:
    with contextlib.suppress(OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError):
        await asyncio.wait_for(conn.close(), timeout=wait)
    if not conn.is_closed():
        conn.terminate()


@asynccontextmanager
async def locked_connection(
    dsn: str,
    *,
    connect_timeout: float,
    lock_id: int,
    lock_timeout: float,
    lock_poll_interval: float,
) -> AsyncIterator[asyncpg.Connection]:
    """Yield one connection that holds the advisory lock; unlock and close afterwards."""
    conn = await connect(dsn, connect_timeout=connect_timeout)
    try:
        try:
            await acquire_lock(
                conn,
                lock_id=lock_id,
                lock_timeout=lock_timeout,
                poll_interval=lock_poll_interval,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            raise DatabaseUnavailableError(
                f"connection lost while taking advisory lock {lock_id}: {exc}",
            ) from exc
        try:
            yield conn
        finally:
            if not conn.is_closed():
                # A dead connection released the lock with its session; nothing to undo then.
                with contextlib.suppress(OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                    await conn.execute("SELECT pg_advisory_unlock($1)", lock_id)
    finally:
        await _close(conn, connect_timeout)
