"""`shoal backup`, `shoal restore` and `shoal copy-data`: a consistent snapshot of a SQLite
installation, bringing one back, and moving an installation onto PostgreSQL."""

from __future__ import annotations

import contextlib
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import typer
from sqlalchemy.engine import make_url

from shoal.cli.common import ConfigOption, console, fail, open_database, run, settings_from
from shoal.config import Settings, normalize_database_url
from shoal.errors import ShoalError
from shoal.store import Database
from shoal.store.copy import TableCopy, copy_database
from shoal.store.migrate import head_revision, known_revisions

PG_DUMP_ADVICE = """\
This installation runs on PostgreSQL: back it up with PostgreSQL's own tools, which take a
consistent snapshot while Shoal keeps running:
  pg_dump --format=custom --file=shoal.dump "{url}"
and bring it back into a new, empty database with:
  createdb shoal_restored && pg_restore --dbname=shoal_restored shoal.dump
Keep the server secret (SHOAL_SECRET) with the dump: stored keys and secrets are encrypted
with it."""


def sqlite_path(settings: Settings) -> Path | None:
    """The SQLite file the settings use, or None on PostgreSQL."""
    url = make_url(settings.resolved_database_url)
    if not url.drivername.startswith("sqlite"):
        return None
    if not url.database or url.database == ":memory:":
        fail("an in-memory SQLite database has nothing to back up")
    return Path(url.database)


def in_use(path: Path) -> bool:
    """Whether another process (a running Shoal) has the SQLite file open. A process holding
    it keeps a lock that an exclusive-mode connection cannot get past at once."""
    probe = sqlite3.connect(path, timeout=0, isolation_level=None)
    try:
        probe.execute("PRAGMA locking_mode=EXCLUSIVE")
        probe.execute("BEGIN EXCLUSIVE")
        probe.execute("ROLLBACK")
    except sqlite3.OperationalError:
        return True
    finally:
        probe.close()
    return False


def check_snapshot(path: Path) -> tuple[str, int]:
    """A backup file's schema revision and how many messages it holds; exits when it is not
    a readable Shoal database."""
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            status = conn.execute("PRAGMA integrity_check").fetchone()[0]
            if status != "ok":
                fail(f"{path} is damaged (SQLite's integrity check says: {status})")
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()[0]
            messages = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        fail(f"{path} is not a Shoal database ({exc})")
    return str(revision), int(messages)


def backup_sqlite(source: Path, target: Path) -> None:
    """Copy the database with SQLite's online backup API: a consistent snapshot, taken while
    Shoal may keep writing."""
    with contextlib.closing(sqlite3.connect(source, timeout=15)) as src, \
            contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def shown_url(url: str) -> str:
    """A database URL with its password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def register(app: typer.Typer) -> None:
    """Add the data commands to the CLI."""

    @app.command()
    def backup(
        file: Path | None = typer.Argument(
            None, help="Where to write the snapshot (default: shoal-backup-<time>.db here)."),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Write a consistent snapshot of the SQLite database (Shoal may keep running);
        on PostgreSQL, say how to use pg_dump."""
        settings = settings_from(config)
        source = sqlite_path(settings)
        if source is None:
            console.print(PG_DUMP_ADVICE.format(url=shown_url(settings.resolved_database_url)),
                          markup=False, highlight=False, soft_wrap=True)
            raise typer.Exit(1)
        if not source.exists():
            fail(f"there is no database at {source}; is the data directory right "
                 "(--config, SHOAL_DATA_DIR)?")
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        target = file or Path(f"shoal-backup-{stamp}.db")
        if target.exists() and not force:
            fail(f"{target} already exists; choose another file or pass --force")
        if target.resolve() == source.resolve():
            fail("the backup cannot be the database itself")
        target.unlink(missing_ok=True)
        backup_sqlite(source, target)
        revision, messages = check_snapshot(target)
        console.print(f"Backed up {source} to {target} (schema {revision}, {messages} "
                      "messages). Keep the server secret with it (SHOAL_SECRET, or the file "
                      f"{settings.data_dir / 'secret'}): stored keys are encrypted with it.",
                      markup=False, highlight=False, soft_wrap=True)

    @app.command()
    def restore(
        file: Path = typer.Argument(..., help="A snapshot `shoal backup` wrote."),
        force: bool = typer.Option(False, "--force",
                                   help="Replace the existing database (it is kept beside "
                                        "it as shoal.db.before-restore-<time>)."),
        config: Path | None = ConfigOption,
    ) -> None:
        """Bring a SQLite snapshot back as the database (stop Shoal first)."""
        settings = settings_from(config)
        target = sqlite_path(settings)
        if target is None:
            fail("this installation runs on PostgreSQL: restore a pg_dump with pg_restore "
                 "into a new database and point SHOAL_DATABASE_URL at it")
        if not file.is_file():
            fail(f"there is no file {file}")
        revision, messages = check_snapshot(file)
        if revision not in known_revisions():
            fail(f"{file} is at schema {revision}, which this version of Shoal does not know "
                 f"(its newest is {head_revision()}); restore it with the version that wrote "
                 "it")
        kept: Path | None = None
        if target.exists():
            if in_use(target):
                fail(f"{target} is in use: stop Shoal (every process using it) before "
                     "restoring")
            if not force:
                fail(f"{target} already exists; pass --force to replace it (it is kept "
                     "beside it, renamed)")
            stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
            kept = target.with_name(f"{target.name}.before-restore-{stamp}")
            target.rename(kept)
            for suffix in ("-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        backup_sqlite(file, target)
        console.print(f"Restored {file} to {target} (schema {revision}, {messages} messages)."
                      + (f" The database it replaced is kept as {kept}." if kept else "")
                      + " Start Shoal with the same server secret as when it was taken.",
                      markup=False, highlight=False, soft_wrap=True)

    @app.command(name="copy-data")
    def copy_data(
        to: str = typer.Option(..., "--to", help="The empty PostgreSQL database: "
                               "postgresql://user:password@host:5432/shoal"),
        config: Path | None = ConfigOption,
    ) -> None:
        """Copy a stopped SQLite installation into an empty PostgreSQL database: every
        table, verified by row counts and checksums."""
        settings = settings_from(config)
        source = sqlite_path(settings)
        if source is None:
            fail("this installation already runs on PostgreSQL; copy-data moves a SQLite "
                 "installation (to copy PostgreSQL, use pg_dump and pg_restore)")
        if not source.exists():
            fail(f"there is no database at {source}; is the data directory right "
                 "(--config, SHOAL_DATA_DIR)?")
        if in_use(source):
            fail(f"{source} is in use: stop Shoal before copying, so that nothing written "
                 "after the copy is lost")
        target_url = normalize_database_url(to)
        if not target_url.startswith("postgresql"):
            fail("--to must be a PostgreSQL URL, like postgresql://user:pw@host:5432/shoal")

        async def go() -> list[TableCopy]:
            async with open_database(settings) as db:  # the newest schema first
                target = Database(target_url)
                try:
                    return await copy_database(db, target, progress=lambda line: console.print(
                        f"  {line}", markup=False, highlight=False, soft_wrap=True))
                except ShoalError:
                    raise
                except Exception as exc:  # the driver's reason, in one line
                    fail(f"copying into {shown_url(target_url)} failed, nothing was kept: "
                         f"{type(exc).__name__}: {exc}")
                finally:
                    await target.dispose()

        console.print(f"Copying {source} into {shown_url(target_url)}", markup=False,
                      highlight=False, soft_wrap=True)
        copied = run(go())
        rows = sum(t.rows for t in copied)
        secret = ("SHOAL_SECRET as it is set now" if settings.secret
                  else f"SHOAL_SECRET=<the contents of {settings.data_dir / 'secret'}>")
        console.print(
            f"Copied {rows} rows in {len(copied)} tables; every table's row count and "
            "checksum match.\n"
            "Run Shoal on PostgreSQL from now on, changing only the database:\n"
            f"  SHOAL_DATABASE_URL={shown_url(to)}\n"
            f"  {secret}  (the same secret: stored keys and secrets are encrypted with it)\n"
            "(or database_url and secret in the configuration file). To run several "
            "processes, also set SHOAL_REDIS_URL. Keep the SQLite file until you have "
            "checked the new installation; Shoal no longer reads it.",
            markup=False, highlight=False, soft_wrap=True)
