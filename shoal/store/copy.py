"""Copying a whole Shoal database into an empty PostgreSQL one (`shoal copy-data`), and
checking the copy: every table in dependency order, rows as stored (seqs, ids, times and
encrypted secrets unchanged), then per table the row count and a checksum compared.

The source is read in one transaction, so the copy is one consistent snapshot. The target is
migrated and filled in one transaction too: if anything fails (a row PostgreSQL refuses, a
checksum that differs), it is rolled back and the target database is left empty as it was.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from alembic import command
from sqlalchemy import Table, func, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from shoal.errors import InvalidInput, ShoalError
from shoal.store.db import Database
from shoal.store.migrate import alembic_config
from shoal.store.tables import Base

BATCH = 500
MODULUS = 2**256


@dataclass(frozen=True)
class TableCopy:
    """One table's rows and checksum, as found in the source and then in the target."""

    name: str
    rows: int
    checksum: str


def row_digest(table: Table, row: Any) -> int:
    """A row's hash over its column values in a canonical form both databases give alike."""
    values = {c.name: _canonical(row._mapping[c]) for c in table.columns}
    encoded = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return int.from_bytes(hashlib.sha256(encoded.encode()).digest(), "big")


def _canonical(value: Any) -> Any:
    if isinstance(value, datetime):
        return (value.astimezone(UTC) if value.tzinfo else value).isoformat()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _checksum(total: int) -> str:
    return f"{total % MODULUS:064x}"


async def _table_sum(conn: AsyncConnection, table: Table) -> tuple[int, str]:
    """Rows and an order-independent checksum (the sum of row hashes), so the databases'
    different collations cannot make equal tables differ."""
    count, total = 0, 0
    result = await conn.stream(select(table))
    async for partition in result.partitions(BATCH):
        for row in partition:
            total += row_digest(table, row)
            count += 1
    return count, _checksum(total)


def _in_dependency_order(table: Table, rows: list[Any]) -> list[Any]:
    """A table that refers to itself (a bot's owner is a user): referenced rows first."""
    own = [fk for fk in table.foreign_keys if fk.column.table is table]
    if not own:
        return rows
    keys = [fk.column.name for fk in own]
    refs = [fk.parent.name for fk in own]
    placed: set[tuple[Any, ...]] = set()
    ordered: list[Any] = []
    waiting = rows
    while waiting:
        left = []
        for row in waiting:
            m = row._mapping
            if all(m[r] is None or (m[r],) in placed or m[r] == m[k]
                   for r, k in zip(refs, keys, strict=True)):
                ordered.append(row)
                placed.add((m[keys[0]],))
            else:
                left.append(row)
        if len(left) == len(waiting):  # a reference to a missing row: let the target say so
            ordered.extend(left)
            break
        waiting = left
    return ordered


async def _batches(conn: AsyncConnection, table: Table) -> AsyncIterator[list[Any]]:
    """The table's rows in batches, streamed; a table that refers to itself is read whole,
    to put referenced rows first."""
    if any(fk.column.table is table for fk in table.foreign_keys):
        rows = _in_dependency_order(table, list((await conn.execute(select(table))).all()))
        for start in range(0, len(rows), BATCH):
            yield rows[start:start + BATCH]
        return
    result = await conn.stream(select(table))
    async for partition in result.partitions(BATCH):
        yield list(partition)


async def target_is_empty(conn: AsyncConnection) -> list[str]:
    """The tables already in the target's schema (empty list: fine to copy into)."""
    return await conn.run_sync(lambda sync: inspect(sync).get_table_names())


def _upgrade(sync: Connection) -> None:
    command.upgrade(alembic_config(sync), "head")


# SQLite's full-text index over search_docs (an FTS5 table and its shadow tables): derived,
# never copied; PostgreSQL keeps its own (a generated tsvector column).
DERIVED_PREFIX = "search_fts"


def tables_to_copy(source_tables: Iterable[str]) -> list[Table]:
    """Every table of the schema in dependency order; a table in the source that the schema
    does not know stops the copy (it would be lost)."""
    known = {t.name for t in Base.metadata.sorted_tables}
    unknown = sorted(name for name in set(source_tables) - known - {"alembic_version"}
                     if not name.startswith(DERIVED_PREFIX))
    if unknown:
        raise InvalidInput(f"the source database has tables this version of Shoal does not "
                           f"know ({', '.join(unknown)}); copy with the version that made them")
    return list(Base.metadata.sorted_tables)


async def copy_database(source: Database, target: Database,
                        progress: Callable[[str], None] = lambda _: None) -> list[TableCopy]:
    """Copy every row of `source` (migrated to the newest schema) into the empty PostgreSQL
    `target`, migrating it first; returns each table's rows and checksum, verified equal in
    both. Raises InvalidInput, with nothing written, when the target is not empty or the
    copy does not match."""
    if target.is_sqlite:
        raise InvalidInput("the target must be a PostgreSQL database (postgresql://...)")
    copied: list[TableCopy] = []
    async with source.engine.connect() as src, target.engine.connect() as dst:
        existing = await target_is_empty(dst)
        if existing:
            raise InvalidInput(
                f"the target database is not empty (it has {len(existing)} tables, e.g. "
                f"{', '.join(sorted(existing)[:3])}); copy into a new, empty database "
                "(CREATE DATABASE shoal) so nothing in it is overwritten")
        await dst.rollback()
        async with dst.begin():
            await dst.run_sync(_upgrade)
            source_tables = await src.run_sync(lambda sync: inspect(sync).get_table_names())
            tables = tables_to_copy(source_tables)
            # The rows come as they are: the schema's own triggers (a message indexed for
            # search as it is stored) stay off until every table is copied.
            for table in tables:
                await dst.execute(text(f'ALTER TABLE "{table.name}" DISABLE TRIGGER USER'))
            for table in tables:
                count, total = 0, 0
                async for batch in _batches(src, table):
                    try:
                        await dst.execute(table.insert(), [dict(r._mapping) for r in batch])
                    except ShoalError as exc:
                        raise InvalidInput(f"a row of {table.name} cannot be stored in "
                                           f"PostgreSQL: {exc.message}") from None
                    for row in batch:
                        total += row_digest(table, row)
                    count += len(batch)
                source_sum = TableCopy(table.name, count, _checksum(total))
                target_count, target_sum = await _table_sum(dst, table)
                if (target_count, target_sum) != (source_sum.rows, source_sum.checksum):
                    raise InvalidInput(
                        f"the copy of {table.name} does not match: {source_sum.rows} rows "
                        f"(checksum {source_sum.checksum[:12]}) in the source, {target_count} "
                        f"(checksum {target_sum[:12]}) in the target; nothing was kept")
                copied.append(source_sum)
                progress(f"{table.name}: {count} rows, checksum {source_sum.checksum[:12]}")
            await _reset_sequences(dst)
        # Committed: the triggers go back on (a table with a query open in the copy's own
        # transaction cannot be altered there).
        async with dst.begin():
            for table in tables:
                await dst.execute(text(f'ALTER TABLE "{table.name}" ENABLE TRIGGER USER'))
    return copied


async def _reset_sequences(conn: AsyncConnection) -> None:
    """Move every sequence a column owns past the copied values (Shoal's own ids are not
    sequences today; a column added later may be)."""
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            sequence = await conn.scalar(text("SELECT pg_get_serial_sequence(:t, :c)"),
                                         {"t": table.name, "c": column.name})
            if sequence:
                top = await conn.scalar(select(func.max(column)))
                if top is not None:
                    await conn.execute(text("SELECT setval(:s, :v)"),
                                       {"s": sequence, "v": int(top)})
