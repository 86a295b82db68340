"""Autogenerate a migration by diffing the tables against a scratch SQLite database.

Usage: python scripts/make_migration.py "what changed" [--rev-id 0002]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from alembic import command

from shoal.store.db import Database
from shoal.store.migrate import alembic_config, migrate


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("message")
    parser.add_argument("--rev-id")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite+aiosqlite:///{Path(tmp) / 'scratch.db'}")
        await migrate(db)
        async with db.engine.begin() as conn:
            await conn.run_sync(
                lambda c: command.revision(
                    alembic_config(c), message=args.message, autogenerate=True, rev_id=args.rev_id
                )
            )
        await db.dispose()
    # Alembic renders JSONB's default argument without its module prefix.
    for path in (Path(__file__).parents[1] / "shoal/store/migrations/versions").glob("*.py"):
        text = path.read_text()
        path.write_text(text.replace("astext_type=Text()", "astext_type=sa.Text()"))


asyncio.run(main())
