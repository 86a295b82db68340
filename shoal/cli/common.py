"""What every CLI command shares: settings, a migrated database, friendly failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from sqlalchemy import or_, select
from typer.core import TyperGroup, TyperOption

from shoal.auth.passwords import Passwords
from shoal.bootstrap import ensure_home
from shoal.config import Settings, load_settings
from shoal.errors import NotFound, ShoalError
from shoal.store import Database, migrate
from shoal.store.tables import House

console = Console()
err_console = Console(stderr=True)
T = TypeVar("T")

ConfigOption = typer.Option(None, "--config", "-c", help="TOML configuration file.")


class ShoalGroup(TyperGroup):
    """A command group whose help screens show no `<bool>` after flags, which take no value.

    Typer labels every option with its type, flags and `--help` included; every `typer.Typer`
    in the CLI is declared with `cls=ShoalGroup`.
    """

    def get_params(self, ctx: Any) -> list[Any]:
        """This group's options, flags without a type label."""
        return _without_flag_types(super().get_params(ctx))

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        """A subcommand, its flags without a type label."""
        command = super().get_command(ctx, cmd_name)
        if command is not None and not isinstance(command, TyperGroup):
            _without_flag_types(command.get_params(ctx))
        return command


def _without_flag_types(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
            param.metavar = ""
    return params


def settings_from(config: Path | None, **overrides: Any) -> Settings:
    """Load settings or exit with the reason in plain words."""
    try:
        return load_settings(config, **overrides)
    except ShoalError as exc:
        fail(exc.message)


def passwords_for(settings: Settings) -> Passwords:
    """The password hasher with the configured cost."""
    return Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine; a ShoalError becomes a one-line message and exit code 1."""
    try:
        return asyncio.run(coro)
    except ShoalError as exc:
        fail(exc.message)


def fail(message: str) -> NoReturn:
    """Print an error and stop the command."""
    err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


@asynccontextmanager
async def open_database(settings: Settings) -> AsyncIterator[Database]:
    """A database with the schema brought up to date, closed afterwards."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.resolved_database_url)
    try:
        await migrate(db)
        yield db
    finally:
        await db.dispose()


async def house_by_ref(db: Database, wanted: str | None) -> House:
    """The house a `--house` option names by slug or id; the default house when none."""
    if wanted is None:
        return (await ensure_home(db)).house
    async with db.read() as session:
        house = await session.scalar(select(House).where(
            or_(House.slug == wanted.lower(), House.id == wanted)))
    if house is None:
        raise NotFound(f"no house {wanted!r}")
    return house
