"""`shoal command add|list|update|remove`: a house's own webhook slash commands."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from shoal.cli.common import (
    ConfigOption,
    ShoalGroup,
    console,
    house_by_ref,
    open_database,
    run,
    settings_from,
)
from shoal.commands.builtins import register_builtins
from shoal.commands.manage import (
    PERMISSIONS,
    CommandFields,
    Rules,
    command_view,
    create_command,
    find_command,
    house_commands,
    update_command,
)
from shoal.commands.registry import CommandRegistry
from shoal.config import Settings
from shoal.crypto import SecretBox
from shoal.net.outbound import OutboundPolicy
from shoal.schedules.commands import register_schedule_commands

command_app = typer.Typer(
    cls=ShoalGroup,
    help="Manage a house's own slash commands, answered by webhooks. A running server sees "
         "changes within a few seconds.", no_args_is_help=True)

HouseOption = typer.Option(None, "--house", help="House slug or id (default: the default "
                                                 "house).")
PERMISSION_HELP = f"Who may run it: {', '.join(PERMISSIONS)} (closed: the house owners only)."


def _rules(settings: Settings) -> Rules:
    registry = CommandRegistry()
    register_builtins(registry)
    register_schedule_commands(registry)
    return Rules(registry, SecretBox(settings.ensure_secret()),
                 OutboundPolicy.from_settings(settings))


def _names(text: str | None) -> list[str] | None:
    if text is None:
        return None
    return [name for name in (part.strip() for part in text.split(",")) if name]


@command_app.command("add")
def command_add(
    name: str,
    webhook_url: str,
    description: str = typer.Option("", help="What it does, shown in /help."),
    permission: str = typer.Option("open", help=PERMISSION_HELP),
    whitelist: str | None = typer.Option(None, help="Comma-separated usernames who may run "
                                                    "it (with --permission whitelist)."),
    secret: str | None = typer.Option(None, help="Sign each call with this secret."),
    house: str | None = HouseOption,
    config: Path | None = ConfigOption,
) -> None:
    """Register /NAME in every room of the house; running it POSTs to WEBHOOK_URL."""
    settings = settings_from(config)
    fields = CommandFields(name, webhook_url, description, permission, _names(whitelist) or [],
                           secret)

    async def go() -> None:
        async with open_database(settings) as db:
            target = await house_by_ref(db, house)
            async with db.write() as session:
                row = await create_command(session, target.id, fields, _rules(settings), None)
        console.print(f"Added /{row.name} to {target.name} ({row.invoke_permission}).")

    run(go())


@command_app.command("list")
def command_list(house: str | None = HouseOption, config: Path | None = ConfigOption) -> None:
    """List the house's commands (secrets only say whether they are set)."""
    settings = settings_from(config)

    async def go() -> None:
        async with open_database(settings) as db:
            target = await house_by_ref(db, house)
            async with db.read() as session:
                rows = await house_commands(session, target.id)
        if not rows:
            console.print(f"{target.name} has no commands of its own.")
            return
        table = Table("name", "webhook", "permission", "whitelist", "signed", "description")
        for view in map(command_view, rows):
            table.add_row(f"/{view['name']}", view["webhook_url"], view["invoke_permission"],
                          ", ".join(view["invoke_whitelist"]),
                          "yes" if view["has_secret"] else "no", view["description"])
        console.print(table)

    run(go())


@command_app.command("update")
def command_update(
    name: str,
    webhook_url: str | None = typer.Option(None, "--url", help="A new webhook URL."),
    rename: str | None = typer.Option(None, help="A new name."),
    description: str | None = typer.Option(None, help="A new description."),
    permission: str | None = typer.Option(None, help=PERMISSION_HELP),
    whitelist: str | None = typer.Option(None, help="Comma-separated usernames; replaces the "
                                                    "list (\"\" empties it)."),
    secret: str | None = typer.Option(None, help='A new signing secret ("" removes it).'),
    house: str | None = HouseOption,
    config: Path | None = ConfigOption,
) -> None:
    """Change a command of the house."""
    settings = settings_from(config)
    fields = CommandFields(rename, webhook_url, description, permission, _names(whitelist),
                           secret)

    async def go() -> None:
        async with open_database(settings) as db:
            target = await house_by_ref(db, house)
            async with db.write() as session:
                row = await find_command(session, target.id, name)
                await update_command(session, row, fields, _rules(settings))
        console.print(f"Updated /{row.name} of {target.name}.")

    run(go())


@command_app.command("remove")
def command_remove(name: str, house: str | None = HouseOption,
                   config: Path | None = ConfigOption) -> None:
    """Remove a command from the house."""
    settings = settings_from(config)

    async def go() -> None:
        async with open_database(settings) as db:
            target = await house_by_ref(db, house)
            async with db.write() as session:
                row = await find_command(session, target.id, name)
                await session.delete(row)
        console.print(f"Removed /{row.name} from {target.name}.")

    run(go())


def register(app: typer.Typer) -> None:
    """Add `shoal command` to the CLI."""
    app.add_typer(command_app, name="command")
