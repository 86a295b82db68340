"""/help: what commands exist and how to call them."""

from __future__ import annotations

from shoal.commands.registry import (
    Arg,
    Command,
    CommandContext,
    CommandResult,
    UsageError,
    listing,
)
from shoal.rooms.access import Action


async def show_help(ctx: CommandContext) -> CommandResult:
    """List every command of this house, or explain one."""
    name = ctx.args.get("command")
    registry = ctx.services.commands
    if name is None:
        return CommandResult(listing(await registry.available(ctx.room.house_id)),
                             ephemeral=True)
    command = await registry.resolve(ctx.room.house_id, name.lstrip("/"))
    if command is None:
        raise UsageError(f"there is no command /{name.lstrip('/')}")
    text = f"{command.usage}\n{command.description}"
    if not command.is_builtin:
        text += "\nThis house's own command: its webhook answers it."
    if command.example:
        text += f"\nExample: {command.example}"
    return CommandResult(text, ephemeral=True)


COMMANDS = [
    Command(
        name="help",
        description="List the commands, or show how to use one.",
        handler=show_help,
        args=(Arg("command", required=False),),
        example="/help roll",
        action=Action.READ,
    ),
]
