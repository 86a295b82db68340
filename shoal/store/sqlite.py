"""SQLite for the async engine, one trip per statement.

aiosqlite runs each SQLite call on its connection's own thread, and SQLAlchemy's adapter makes
four calls of a statement (open a cursor, execute, fetch, close), each a handoff to that thread
and back (about 60 us of CPU apiece). Here a statement is one handoff: the cursor is opened,
executed, read and closed on the database thread together. A commit or rollback with no
transaction open (a session that only read) makes no trip at all. Everything else is SQLAlchemy's
own aiosqlite dialect, handed this module with `create_async_engine(..., module=dbapi())`.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_


class Outcome:
    """What a statement left on its cursor, read on the database thread."""

    __slots__ = ("description", "lastrowid", "rowcount", "rows")

    def __init__(self, cursor: sqlite3.Cursor, fetch: bool) -> None:
        self.description = cursor.description
        self.rows = cursor.fetchall() if fetch and cursor.description else []
        self.rowcount = cursor.rowcount
        self.lastrowid = cursor.lastrowid


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Outcome:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        return Outcome(cursor, fetch=not many)
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A client-side cursor whose statement, rows and counts come back in one trip."""

    __slots__ = ("_outcome",)

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        # No aiosqlite cursor: each statement opens and closes its own on the database thread.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._outcome: Outcome | None = None

    @property
    def description(self) -> Any:
        return self._outcome.description if self._outcome else None

    @property
    def rowcount(self) -> int:
        return self._outcome.rowcount if self._outcome else -1

    @property
    def lastrowid(self) -> Any:
        return self._outcome.lastrowid if self._outcome else None

    async def _async_soft_close(self) -> None:
        return None  # the rows and description are already here; nothing is open

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> None:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        self._trip(operation, seq_of_parameters, many=True)

    def _trip(self, operation: Any, parameters: Any, many: bool) -> None:
        try:
            self._outcome = await_(self._call(operation, parameters, many))
        except Exception as error:
            self._adapt_connection._handle_exception(error)
        self._rows = collections.deque(self._outcome.rows)

    async def _call(self, operation: Any, parameters: Any, many: bool) -> Outcome:
        return await cast(OneTripConnection, self._adapt_connection).trip(
            operation, parameters, many)


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()

    _cursor_cls = OneTripCursor  # type: ignore[assignment]

    async def trip(self, operation: str, parameters: Any, many: bool) -> Outcome:
        """Run one statement (`many`: once per row of `parameters`) on the database thread,
        in whatever transaction the connection has open; its rows come back with it."""
        async with self._execute_mutex:
            connection = cast(aiosqlite.Connection, self._connection)
            # aiosqlite's own queue to its thread (SQLAlchemy's adapter uses it too).
            outcome = await connection._execute(  # type: ignore[no-untyped-call]
                _run, connection._conn, operation, parameters, many)
            return cast(Outcome, outcome)

    def _in_transaction(self) -> bool:
        return self._connection._connection is not None and self._connection.in_transaction

    def commit(self) -> None:
        if self._in_transaction():
            super().commit()

    def rollback(self) -> None:
        if self._in_transaction():
            super().rollback()


class _DBAPI(AsyncAdapt_aiosqlite_dbapi):
    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def dbapi() -> AsyncAdapt_aiosqlite_dbapi:
    """The DBAPI module to give the aiosqlite dialect (`module=`)."""
    return _DBAPI(aiosqlite, sqlite3)
