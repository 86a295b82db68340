"""Slash commands as tools: their argument spec is the JSON schema, and a call runs silently
through the same registry and runner as a person's command. A house's own (webhook) commands
are tools too, in that house. Every command is in group `commands` and in its family's
(`notes`, `rooms`, `schedules`, `agents`, `chat`, or `house` for a house's own)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from shoal.commands.parser import ParsedCommand
from shoal.errors import Forbidden, NotFound
from shoal.llm import ToolSpec
from shoal.rooms.access import (
    MIN_ROLE,
    RANK,
    ROOM_ACTIONS,
    Access,
    authorize,
    house_access,
    room_access,
)
from shoal.tools.base import Tool, ToolError, ToolList, ToolScope

if TYPE_CHECKING:
    from shoal.commands.registry import Command, CommandRegistry
    from shoal.store import Database
    from shoal.store.tables import User

# Runs a parsed command as the bot in a room, posting nothing; answers with the command's ack.
RunCommand = Callable[["User", str, ParsedCommand], Awaitable[dict[str, Any]]]

COMMANDS_GROUP = "commands"


def tool_spec(command: Command) -> ToolSpec:
    """The tool a command becomes: one string property per argument."""
    properties: dict[str, Any] = {}
    for arg in command.args:
        what = "the rest of the text, as written" if arg.rest else "one value"
        properties[arg.name] = {"type": "string", "description": f"<{arg.name}>: {what}"}
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    required = [a.name for a in command.args if a.required]
    if required:
        schema["required"] = required
    return ToolSpec(command.name, f"{command.description} Usage: {command.usage}", schema)


def quote(value: str) -> str:
    """A value as one command argument: bare when that reads back the same, else quoted."""
    if value and not any(ch.isspace() or ch in "\"'\\" for ch in value) \
            and not value.startswith("--"):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_call(command: Command, arguments: Mapping[str, Any]) -> ParsedCommand:
    """The command as if typed, built from a tool call's arguments. Positional values are
    quoted in the text; a `rest` value is kept exactly as given, which the text parser could
    not guarantee (an apostrophe would read as an unclosed quote)."""
    raw, positional, ends = "", [], []
    for arg in command.args:
        value = arguments.get(arg.name)
        if value is None or value == "":
            break  # positions cannot be skipped: bind() reports a missing required one
        text = value if isinstance(value, str) else str(value)
        raw = f"{raw} " if raw else raw
        if arg.rest:
            raw += text
            break
        raw += quote(text)
        positional.append(text)
        ends.append(len(raw))
    return ParsedCommand(command.name, raw, positional, {}, ends)


def refusal(access: Access, command: Command) -> str | None:
    """Why the bot's standing does not let it run this command, or None when it may. Without
    a room (`access.room` unset), only its house role counts."""
    if access.room is None and command.action in ROOM_ACTIONS:
        needed = MIN_ROLE[command.action]
        if RANK.get(access.role or "", -1) >= RANK[needed]:
            return None
        return f"/{command.name} needs the {needed} role; the agent is {access.role}"
    try:
        authorize(access, command.action)
    except NotFound:
        return f"/{command.name} is not open to the agent here: it cannot see the room"
    except Forbidden:
        return (f"/{command.name} needs the {MIN_ROLE[command.action]} role; the agent is "
                f"{access.role}")
    return None


class CommandTools:
    """The house's slash commands the bot's role may run, as tools."""

    def __init__(self, db: Database, registry: CommandRegistry, run_command: RunCommand
                 ) -> None:
        self.db = db
        self.registry = registry
        self.run_command = run_command

    async def tools(self, scope: ToolScope) -> ToolList:
        """Every command of the house; those the bot's role may not run are unavailable."""
        async with self.db.read() as session:
            access = (await room_access(session, scope.bot.id, scope.room_id) if scope.room_id
                      else await house_access(session, scope.bot.id, scope.house_id))
        found = ToolList()
        for command in await self.registry.available(scope.house_id):
            why = refusal(access, command)
            if why is None:
                found.tools.append(self._tool(command, scope))
            else:
                found.unavailable[command.name] = why
        return found

    def _tool(self, command: Command, scope: ToolScope) -> Tool:
        spec = tool_spec(command)

        async def run(arguments: dict[str, Any]) -> str:
            ack = await self.run_command(scope.bot, scope.room_id, parse_call(command, arguments))
            if not ack.get("ok"):
                raise ToolError(str(ack.get("error")))
            return str(ack["content"])

        return Tool(spec.name, spec.description, dict(spec.parameters),
                    (COMMANDS_GROUP, command.family), run)
