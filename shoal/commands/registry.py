"""The command registry: every command, built-in or not, is a `Command` found here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from shoal.commands.parser import ParsedCommand
from shoal.errors import InvalidInput
from shoal.rooms.access import Action

if TYPE_CHECKING:
    from shoal.crypto import SecretBox
    from shoal.llm import ModelRouter
    from shoal.memory import MemorySearch
    from shoal.rooms.access import Access
    from shoal.rooms.membership import Membership
    from shoal.rooms.messages import Limits
    from shoal.store.db import Database
    from shoal.store.tables import Room, User


@dataclass(frozen=True)
class Arg:
    """A positional argument; `rest` takes the remaining text as typed."""

    name: str
    required: bool = True
    rest: bool = False


@dataclass(frozen=True)
class CommandResult:
    """What a command answers; `ephemeral` results are shown only to whoever ran it, and
    a result that is not `broadcast` is only answered, never posted. `sender_name` is the
    name a posted result is shown under."""

    content: str
    type: str = "system"
    ephemeral: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)
    broadcast: bool = True
    sender_name: str | None = None


class Schedules(Protocol):
    """The scheduler as the schedule commands use it: its clock, a nudge, a run on demand."""

    def clock(self) -> datetime:
        """The scheduler's now."""
        ...

    def wake(self) -> None:
        """Look for due schedules now: one was added or changed."""
        ...

    async def run_cron_job(self, job_id: str) -> None:
        """Run a cron job's turn at once, outside its schedule."""
        ...


class Subagents(Protocol):
    """Sub-agents as /subagents uses them."""

    async def list_room(self, room_id: str, viewer_id: str, *, state: str | None = None,
                        archived: bool = False) -> list[dict[str, Any]]:
        """The room's children the viewer may see, newest first."""
        ...

    async def kill(self, sub_id: str, by: User, *, as_parent: bool = False) -> Any:
        """Kill a live child, if `by` may; Forbidden, NotFound or InvalidInput say why not."""
        ...


class McpTools(Protocol):
    """The house's MCP servers as /mcp uses them."""

    async def run_tool(self, house_id: str, server: str, tool: str,
                       arguments: dict[str, Any]) -> str:
        """Call a server's tool by its own name; UpstreamError or NotFound say why not."""
        ...

    async def overview(self, house_id: str) -> list[tuple[str, str, list[str]]]:
        """Each server: its name, its state (or why it is down), its tool names."""
        ...


class CommandServices(Protocol):
    """The services command handlers use, and nothing more."""

    @property
    def db(self) -> Database:
        """The database handle."""
        ...

    @property
    def secrets(self) -> SecretBox:
        """Seals and opens stored secrets (webhook secrets, bot keys)."""
        ...

    @property
    def limits(self) -> Limits:
        """Content and metadata size caps."""
        ...

    @property
    def commands(self) -> CommandRegistry:
        """Every command, for /help."""
        ...

    @property
    def membership(self) -> Membership:
        """Room joins and invites that the room hears about."""
        ...

    @property
    def memory(self) -> MemorySearch:
        """Memory search, for /memory."""
        ...

    @property
    def models(self) -> ModelRouter:
        """The model catalog and outbound policy an agent's settings are checked against."""
        ...

    @property
    def schedules(self) -> Schedules:
        """The scheduler, for /cron and /heartbeat."""
        ...

    @property
    def mcp(self) -> McpTools:
        """The house's MCP servers, for /mcp."""
        ...

    @property
    def subagents(self) -> Subagents:
        """Sub-agents, for /subagents."""
        ...


@dataclass
class CommandContext:
    """Everything a handler gets: who runs it, where, the parsed arguments, the services."""

    services: CommandServices
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
    source: str = "builtin"  # or "house": a house's own command
    # The kind of work it does, as agents' tool policies name it (`group:notes`): "chat",
    # "notes", "rooms", "agents", "schedules", or "house" for a house's own commands.
    family: str = "chat"

    @property
    def is_builtin(self) -> bool:
        """Whether Shoal itself provides this command."""
        return self.source == "builtin"

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


class HouseCommandSource(Protocol):
    """Where a house's own commands come from (its webhook commands, say)."""

    async def commands(self, house_id: str) -> Mapping[str, Command]:
        """The house's commands by name."""
        ...

    def invalidate(self, house_id: str) -> None:
        """Forget what is known of the house's commands; they changed."""
        ...


class CommandRegistry:
    """Name to command. Built-ins register here exactly as any other command will; a house's
    own commands come from a source and never shadow a built-in."""

    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._house_sources: list[HouseCommandSource] = []

    def register(self, command: Command) -> Command:
        """Add a command; a name can only be taken once."""
        if command.name in self._commands:
            raise ValueError(f"command /{command.name} is already registered")
        self._commands[command.name] = command
        return command

    def add_house_source(self, source: HouseCommandSource) -> None:
        """Let houses bring commands of their own from this source."""
        self._house_sources.append(source)

    def get(self, name: str) -> Command | None:
        """The registered (house-independent) command with this name, if any."""
        return self._commands.get(name.lower())

    def all(self) -> list[Command]:
        """Every registered command, sorted by name."""
        return sorted(self._commands.values(), key=lambda c: c.name)

    def is_builtin(self, name: str) -> bool:
        """Whether a built-in command owns this name (custom commands may not take it)."""
        command = self.get(name)
        return command is not None and command.is_builtin

    async def resolve(self, house_id: str, name: str) -> Command | None:
        """The command `/name` runs in a room of this house: a built-in first, else the
        house's own."""
        name = name.lower()
        command = self._commands.get(name)
        if command is not None:
            return command
        for source in self._house_sources:
            found = (await source.commands(house_id)).get(name)
            if found is not None:
                return found
        return None

    async def available(self, house_id: str) -> list[Command]:
        """Every command that runs in this house, sorted by name."""
        found = dict(self._commands)
        for source in self._house_sources:
            for name, command in (await source.commands(house_id)).items():
                found.setdefault(name, command)
        return sorted(found.values(), key=lambda c: c.name)

    def house_changed(self, house_id: str) -> None:
        """A house's own commands changed: the next lookup reads them again."""
        for source in self._house_sources:
            source.invalidate(house_id)


def listing(commands: list[Command]) -> str:
    """Every command with its usage and description, one per line; a house's own commands
    under a heading of their own."""
    lines = ["Available commands:"]
    lines += [f"{c.usage} - {c.description}" for c in commands if c.is_builtin]
    own = [c for c in commands if not c.is_builtin]
    if own:
        lines.append("This house's own commands:")
        lines += [f"{c.usage} - {c.description}" for c in own]
    return "\n".join(lines)
