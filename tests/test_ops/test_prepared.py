"""Prepared statements (the append path's): on SQLite they skip SQLAlchemy's work per
execution, so what they store and read back, how they fail and which transaction they join
must be exactly what the same statement run through SQLAlchemy gives, on every backend."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Boolean, Column, Integer, MetaData, String, Table, bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from shoal.config import normalize_database_url
from shoal.errors import InvalidInput
from shoal.store.db import Database, Prepared
from shoal.store.tables import JSONValue, UTCDateTime
from tests.conftest import BACKENDS
from tests.support import database_beside

metadata = MetaData()
notes = Table(
    "prepared_notes", metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(8)),
    Column("body", JSONValue),
    Column("at", UTCDateTime),
    Column("pinned", Boolean),
    Column("code", String(16), unique=True),
)
INSERT = Prepared(insert(notes))
# A literal in the statement (kind = 'note') as well as a parameter used twice.
PINNED = Prepared(select(notes.c.id, notes.c.body, notes.c.at, notes.c.pinned)
                  .where(notes.c.kind == "note", notes.c.pinned == bindparam("pinned"),
                         notes.c.id >= bindparam("lowest"), notes.c.id != bindparam("lowest"))
                  .order_by(notes.c.id))
EVERYTHING = select(notes.c.id, notes.c.body, notes.c.at, notes.c.pinned).order_by(notes.c.id)


@pytest.fixture(params=BACKENDS)
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "postgres":
        url = await database_beside("prepared",
                                    normalize_database_url(os.environ["SHOAL_TEST_DATABASE_URL"]))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'prepared.db'}"
    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    yield database
    await database.dispose()


def row(id: int, kind: str, pinned: bool, code: str) -> dict[str, object]:
    at = datetime(2026, 12, 5, 18, id, tzinfo=timezone(timedelta(hours=2)))
    return {"id": id, "kind": kind, "body": {"n": id, "tags": ["a", "é"]}, "at": at,
            "pinned": pinned, "code": code}


async def test_what_it_stores_and_reads_is_what_sqlalchemy_would(db: Database) -> None:
    rows = [row(1, "note", True, "a"), row(2, "note", False, "b"), row(3, "note", True, "c"),
            row(4, "other", True, "d"), row(5, "note", True, "e")]
    async with db.write() as session:
        assert await INSERT.rows(session, rows) == []
    async with db.read() as session:
        stored = (await session.execute(EVERYTHING)).all()
        assert [tuple(r) for r in stored] == [
            (r["id"], r["body"], r["at"], r["pinned"]) for r in rows]
        assert stored[0].at.tzinfo is not None and stored[0].at == datetime(
            2026, 12, 5, 16, 1, tzinfo=UTC)
        found = await PINNED.rows(session, {"pinned": True, "lowest": 1})
    assert found == [(3, rows[2]["body"], rows[2]["at"], True),
                     (5, rows[4]["body"], rows[4]["at"], True)]
    assert PINNED.keys == ["id", "body", "at", "pinned"]


async def test_it_joins_the_sessions_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.write() as session:
            await INSERT.rows(session, [row(1, "note", True, "a")])
            raise RuntimeError("the caller fails after the insert")
    async with db.write() as session:
        await INSERT.rows(session, [row(2, "note", True, "b")])
        # Seen by the same transaction before it commits.
        assert [r[0] for r in await PINNED.rows(session, {"pinned": True, "lowest": 0})] == [2]


async def test_a_refused_row_fails_as_sqlalchemy_says_and_keeps_nothing(db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with db.write() as session:
            await INSERT.rows(session, [row(1, "note", True, "same")])
            await INSERT.rows(session, [row(2, "note", True, "same")])
    with pytest.raises(InvalidInput, match="NUL"):
        async with db.write() as session:
            await INSERT.rows(session, [row(3, "note\x00", True, "x")])
    async with db.read() as session:
        assert (await session.execute(EVERYTHING)).all() == []
