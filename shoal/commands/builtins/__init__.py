"""The built-in commands, registered through the same registry as every other command."""

from __future__ import annotations

from shoal.commands.builtins import agents, dice, help, mcp, memory, notes, rooms
from shoal.commands.registry import CommandRegistry


def register_builtins(registry: CommandRegistry) -> None:
    """Add the commands layer's built-in commands to a registry (the scheduler adds /cron
    and /heartbeat with `register_schedule_commands`)."""
    for family in (help, notes, memory, dice, rooms, agents, mcp):
        for command in family.COMMANDS:
            registry.register(command)


__all__ = ["register_builtins"]
