"""The built-in commands, registered through the same registry as every other command."""

from __future__ import annotations

from shoal.commands.builtins import agents, cron, dice, heartbeat, help, notes, rooms
from shoal.commands.registry import CommandRegistry


def register_builtins(registry: CommandRegistry) -> None:
    """Add every built-in command to a registry."""
    for family in (help, notes, dice, rooms, agents, heartbeat, cron):
        for command in family.COMMANDS:
            registry.register(command)


__all__ = ["register_builtins"]
