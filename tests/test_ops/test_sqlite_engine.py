"""The SQLite engine runs each statement in one trip to its database thread: what a statement
returns (rows, column names, counts, errors) and how transactions end must be exactly what
SQLite says, alone and with many sessions at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from shoal.store.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'engine.db'}")
    async with database.write() as session:
        await session.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield database
    await database.dispose()


async def test_a_statement_returns_its_rows_columns_and_counts(db: Database) -> None:
    async with db.write() as session:
        inserted = await session.execute(text("INSERT INTO t (v) VALUES (:v)"),
                                         [{"v": f"row{i}"} for i in range(5)])
        assert inserted.rowcount == 5
        single = await session.execute(text("INSERT INTO t (v) VALUES ('six')"))
        assert single.lastrowid == 6
        updated = await session.execute(text("UPDATE t SET v = v || '!' WHERE id <= 3"))
        assert updated.rowcount == 3
        returned = await session.execute(
            text("UPDATE t SET v = 'seven' WHERE id = 6 RETURNING id, v"))
        assert returned.all() == [(6, "seven")]
    async with db.read() as session:
        result = await session.execute(text("SELECT id, v AS value FROM t ORDER BY id"))
        assert list(result.keys()) == ["id", "value"]
        assert [row.value for row in result] == [
            "row0!", "row1!", "row2!", "row3", "row4", "seven"]
        assert await session.scalar(text("SELECT count(*) FROM t WHERE id > 100")) == 0


async def test_a_failed_write_keeps_nothing_and_says_why(db: Database) -> None:
    async with db.write() as session:
        await session.execute(text("INSERT INTO t (v) VALUES ('taken')"))
    with pytest.raises(IntegrityError, match="UNIQUE"):
        async with db.write() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('kept?')"))
            await session.execute(text("INSERT INTO t (v) VALUES ('taken')"))
    async with db.read() as session:
        assert (await session.scalars(text("SELECT v FROM t"))).all() == ["taken"]


async def test_sessions_at_once_each_get_their_own_answers(db: Database) -> None:
    async with db.write() as session:
        await session.execute(text("INSERT INTO t (id, v) VALUES (:id, :v)"),
                              [{"id": i, "v": f"v{i}"} for i in range(1, 41)])

    async def read(i: int) -> str | None:
        async with db.read() as session:
            await asyncio.sleep(0)
            return await session.scalar(text("SELECT v FROM t WHERE id = :id"), {"id": i})

    async def write(i: int) -> None:
        async with db.write() as session:
            await session.execute(text("UPDATE t SET v = :v WHERE id = :id"),
                                  {"id": i, "v": f"w{i}"})

    answers = await asyncio.gather(*(read(i) for i in range(1, 41)),
                                   *(write(i) for i in range(41, 45)))
    assert answers[:40] == [f"v{i}" for i in range(1, 41)]


async def test_a_read_holds_no_snapshot_that_hides_later_writes(db: Database) -> None:
    async with db.read() as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 0
    other = Database(db.url)
    try:
        async with other.write() as session:
            await session.execute(text("INSERT INTO t (v) VALUES ('from elsewhere')"))
    finally:
        await other.dispose()
    async with db.read() as session:
        assert await session.scalar(text("SELECT count(*) FROM t")) == 1
