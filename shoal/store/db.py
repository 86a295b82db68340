"""The database handle: async engine, read sessions, and serialized write transactions."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from typing import Any

from sqlalchemy import Executable, Result, event
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from shoal.errors import InvalidInput, ShoalError
from shoal.jsontext import find_flaw, has_unusable_text, json_loads_scrubbed, text_flaw
from shoal.store import sqlite

SQLITE_BUSY_TIMEOUT_MS = 15_000


class Database:
    """One engine per process. On SQLite every write transaction goes through one lock,
    so concurrent writers queue in the event loop instead of failing with "database is locked".
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"json_serializer": _json_storable,
                                  "json_deserializer": json_loads_scrubbed}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
            kwargs["module"] = sqlite.dbapi()
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine = create_async_engine(url, **kwargs)
        event.listen(self.engine.sync_engine, "before_cursor_execute", _refuse_unusable_text)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A session for queries; nothing it does is committed."""
        with _shoal_errors_unwrapped():
            async with self.sessions() as session:
                yield session

    @asynccontextmanager
    async def write(self, connection: AsyncConnection | None = None
                    ) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction, committed on success and rolled back on error;
        on `connection` (one a busy writer holds, see `HeldConnection`) if given, else on one
        from the pool."""
        session = self.sessions() if connection is None else self.sessions(bind=connection)
        with _shoal_errors_unwrapped():
            async with self._write_lock or nullcontext(), session, session.begin():
                yield session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


class HeldConnection:
    """A connection one busy writer (the message appender) keeps between its transactions,
    sparing each the pool's checkout and return and a connection's set-up (about a fifth of
    a small transaction's CPU). After `idle_seconds` unused it goes back to the pool, so one
    the database dropped meanwhile is caught by the pool's pre-ping rather than by a failed
    write; after a failed transaction it is closed. For one task at a time."""

    def __init__(self, db: Database, idle_seconds: float = 10.0) -> None:
        self.db = db
        self.idle_seconds = idle_seconds
        self._connection: AsyncConnection | None = None
        self._last_used = 0.0

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """`Database.write` on the held connection (taken from the pool if none is held)."""
        if self._connection is not None and (
                time.monotonic() - self._last_used > self.idle_seconds
                or self._connection.invalidated):
            await self.release()
        if self._connection is None:
            self._connection = await self.db.engine.connect()
        try:
            async with self.db.write(self._connection) as session:
                yield session
        except BaseException:
            await self.release()
            raise
        self._last_used = time.monotonic()

    async def release(self) -> None:
        """Give the connection back (closing it if it broke)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            await connection.close()


Parameters = dict[str, Any] | list[dict[str, Any]] | None


async def run_core(session: AsyncSession, statement: Executable,
                   parameters: Parameters = None) -> Result[*tuple[Any, ...]]:
    """Run a core statement on the session's connection, inside its transaction. For the
    hottest paths, which want rows, not ORM objects: it skips the ORM's work per statement
    (its compile state and result set-up, about a third of a small statement's CPU). What
    the session holds unflushed is flushed first, as `session.execute` would."""
    if session.new or session.dirty or session.deleted:
        await session.flush()
    connection = await session.connection()
    return await connection.execute(statement, parameters)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


# PostgreSQL cannot store NUL in text or JSON, and no driver can encode a lone surrogate.
# Callers check text where it comes in; this is the backstop that keeps any that slipped
# through out of the database (a 400, not a driver error) on every backend alike.

def _refuse_unusable_text(_conn: Any, _cursor: Any, _statement: str, parameters: Any,
                          _context: Any, executemany: bool) -> None:
    """Runs before every statement: each value bound to it, whatever shape the driver call
    uses (a row, rows, or the flattened rows of a multi-row insert), is looked at once."""
    nested = [parameters]
    while nested:
        values = nested.pop()
        if isinstance(values, dict):
            values = values.values()
        elif not isinstance(values, list | tuple):
            values = (values,)
        for value in values:
            if isinstance(value, str):
                if has_unusable_text(value):
                    raise InvalidInput(f"the text {text_flaw(value)}")
            elif isinstance(value, dict | list | tuple):
                nested.append(value)


def _json_storable(value: Any) -> str:
    text = json.dumps(value)
    # ASCII-escaped, so NUL shows as \u0000 and a surrogate as \ud800-\udfff.
    if ("\\u0000" in text or "\\ud" in text) and (flaw := find_flaw(value, max_depth=None)):
        raise InvalidInput(flaw)
    return text


@contextmanager
def _shoal_errors_unwrapped() -> Iterator[None]:
    """A ShoalError raised while SQLAlchemy bound a statement's values reaches the caller as
    itself, not wrapped in a StatementError."""
    try:
        yield
    except StatementError as exc:
        if isinstance(exc.orig, ShoalError):
            raise exc.orig from None
        raise
