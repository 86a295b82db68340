"""The database handle: async engine, read sessions, and serialized write transactions."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

from sqlalchemy import Executable, Result, event
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

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
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction, committed on success and rolled back on error."""
        with _shoal_errors_unwrapped():
            if self._write_lock is None:
                async with self.sessions() as session, session.begin():
                    yield session
                return
            async with self._write_lock, self.sessions() as session, session.begin():
                yield session

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.engine.dispose()


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
