"""The database handle: async engine, read sessions, and serialized write transactions."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, nullcontext
from typing import Any, cast

from sqlalchemy import ClauseElement, Dialect, Executable, Insert, Result, event
from sqlalchemy.exc import DBAPIError, StatementError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.sql.compiler import SQLCompiler

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


class Prepared:
    """A core statement a hot path runs many times a second. On SQLite it is compiled once
    and run on the driver in one trip, inside the session's transaction, with the type
    conversions SQLAlchemy would apply to its values and rows but none of its other work per
    execution (about two thirds of a small statement's CPU); on other databases it runs as
    `run_core` runs it. Rows come back as tuples, in the order of `keys`. Not for statements
    with expanding (`IN`) parameters; an insert's rows must all give the same columns."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        columns = getattr(statement, "exported_columns", ())
        self.keys: list[str | None] = [column.key for column in columns]
        self._compiled: dict[tuple[str, ...], _Compiled] = {}

    async def rows(self, session: AsyncSession, parameters: Parameters = None
                   ) -> list[tuple[Any, ...]]:
        """Run it with one set of parameters, or once per row of a list (an insert)."""
        if session.new or session.dirty or session.deleted:
            await session.flush()
        connection = await session.connection()
        driver = connection.sync_connection.connection.dbapi_connection  # type: ignore[union-attr]
        if not isinstance(driver, sqlite.OneTripConnection):
            result = await connection.execute(self.statement, parameters)
            return [tuple(row) for row in result] if result.returns_rows else []
        rows = parameters if isinstance(parameters, list) else [parameters or {}]
        columns = tuple(rows[0]) if rows and isinstance(self.statement, Insert) else ()
        compiled = self._compiled.get(columns)
        if compiled is None:
            compiled = self._compiled[columns] = _Compiled(self.statement, connection.dialect,
                                                           list(columns) or None)
        return await compiled.run(driver, rows, many=isinstance(parameters, list))


class _Compiled:
    """A statement compiled for SQLite: its text, where each positional value comes from (a
    parameter or the statement's own literal) with its bind conversion, and each result
    column's conversion."""

    def __init__(self, statement: Executable, dialect: Dialect,
                 columns: list[str] | None) -> None:
        compiled = cast(SQLCompiler, cast(ClauseElement, statement).compile(
            dialect=dialect, column_keys=columns))
        if compiled.positiontup is None or "POSTCOMPILE" in compiled.string:
            raise ValueError("a prepared statement needs fixed, positional parameters")
        self.sql = compiled.string
        # (the parameter's name, its conversion), or (None, the statement's own value).
        self.slots: list[tuple[str | None, Any]] = []
        for name in compiled.positiontup:
            bind = compiled.binds[name]
            convert = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                self.slots.append((name, convert))
            else:
                value = bind.effective_value
                self.slots.append((None, convert(value) if convert else value))
        self.results = [column.type.dialect_impl(dialect).result_processor(dialect, None)
                        for column in getattr(statement, "exported_columns", ())]

    def values(self, parameters: dict[str, Any]) -> tuple[Any, ...]:
        values = []
        for name, convert in self.slots:
            if name is None:
                values.append(convert)  # the statement's own value, converted
            else:
                values.append(convert(parameters[name]) if convert else parameters[name])
        return tuple(values)

    async def run(self, driver: sqlite.OneTripConnection, rows: list[dict[str, Any]], *,
                  many: bool) -> list[tuple[Any, ...]]:
        """Run it once (`rows` holds one set of parameters) or once per row (`many`)."""
        values: Any = [self.values(row) for row in rows] if many else self.values(rows[0])
        refuse_unusable_text(values)
        try:
            outcome = await driver.trip(self.sql, values, many)
        except sqlite3.Error as error:
            raise DBAPIError.instance(self.sql, values, error, sqlite3.Error) from error
        if not any(self.results):
            return outcome.rows
        return [tuple(convert(value) if convert else value
                      for convert, value in zip(self.results, row, strict=True))
                for row in outcome.rows]


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
    """Runs before every statement SQLAlchemy executes."""
    refuse_unusable_text(parameters)


def refuse_unusable_text(parameters: Any) -> None:
    """Each value bound to a statement, whatever shape the driver call uses (a row, rows, or
    the flattened rows of a multi-row insert), looked at once."""
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
