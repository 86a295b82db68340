"""The command registry: every command, built-in or not, is a `Command` found here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shoal.commands.parser import ParsedCommand
from shoal.errors import InvalidInput
from shoal.rooms.access import Action

if TYPE_CHECKING:
    from shoal.core import Shoal
    from shoal.rooms.access import Access
    from shoal.store.tables import Room, User


@dataclass(frozen=True)
class Arg:
    """A positional argument; `rest` takes the remaining text as typed."""

    name: str
    required: bool = True
    rest: bool = False


@dataclass(frozen=True)
class CommandResult:
    """What a command answers; `ephemeral` results are shown only to whoever ran it."""

    content: str
    type: str = "system"
    ephemeral: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class CommandContext:
    """Everything a handler gets: who runs it, where, the parsed arguments, the services."""

    shoal: Shoal
    invoker: User
    room: Room
    access: Access
    parsed: ParsedCommand
    args: dict[str, str]

    @property
    def flags(self) -> dict[str, str | bool]:
        """The `--flags` given."""
        return self.parsed.flags


Handler = Callable[[CommandContext], Awaitable[CommandResult]]


class UsageError(InvalidInput):
    """The command was called wrongly; the runner adds its usage and example."""


@dataclass(frozen=True)
class Command:
    """A named command with its argument spec, help texts and handler."""

    name: str
    description: str
    handler: Handler
    args: tuple[Arg, ...] = ()
    example: str = ""
    action: Action = Action.POST  # the least a caller needs to run it
    source: str = "builtin"

    @property
    def usage(self) -> str:
        """The usage line: `/save <key> <value>`."""
        parts = [f"/{self.name}"]
        for arg in self.args:
            label = f"{arg.name}..." if arg.rest else arg.name
            parts.append(f"<{label}>" if arg.required else f"[{label}]")
        return " ".join(parts)

    def bind(self, parsed: ParsedCommand) -> dict[str, str]:
        """Match positional arguments to the spec, or raise UsageError saying what is wrong."""
        values: dict[str, str] = {}
        for index, arg in enumerate(self.args):
            if arg.rest:
                text = parsed.rest_after(index)
                if text:
                    values[arg.name] = text
                elif arg.required:
                    raise UsageError(f"missing <{arg.name}>")
                return values
            if index < len(parsed.positional):
                values[arg.name] = parsed.positional[index]
            elif arg.required:
                raise UsageError(f"missing <{arg.name}>")
        extra = parsed.positional[len(self.args) :]
        if extra:
            raise UsageError(f"unexpected argument {extra[0]!r}")
        return values


class CommandRegistry:
    """Name to command. Built-ins register here exactly as any other command will."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}

    def register(self, command: Command) -> Command:
        """Add a command; a name can only be taken once."""
        if command.name in self._commands:
            raise ValueError(f"command /{command.name} is already registered")
        self._commands[command.name] = command
        return command

    def get(self, name: str) -> Command | None:
        """The command with this name, if any."""
        return self._commands.get(name.lower())

    def all(self) -> list[Command]:
        """Every command, sorted by name."""
        return sorted(self._commands.values(), key=lambda c: c.name)

    def is_builtin(self, name: str) -> bool:
        """Whether a built-in command owns this name (custom commands may not take it)."""
        command = self.get(name)
        return command is not None and command.source == "builtin"
