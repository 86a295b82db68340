"""Slash commands as a bot's tools: their argument spec is the JSON schema, and a call runs
silently through the same registry and runner as a person's command. A house's own (webhook)
commands are tools too, in that house."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shoal.commands.parser import ParsedCommand
from shoal.llm import ToolCall, ToolSpec
from shoal.rooms.access import room_access

if TYPE_CHECKING:
    from shoal.agents.config import ToolPolicy
    from shoal.commands.registry import Command
    from shoal.core import Shoal
    from shoal.store.tables import User

MAX_RESULT_CHARS = 4000  # a tool result is context for the next call, not an archive


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


async def allowed_commands(shoal: Shoal, bot: User, room_id: str, policy: ToolPolicy
                           ) -> list[Command]:
    """The commands the bot may call here: its policy allows them and its role may run them."""
    async with shoal.db.read() as session:
        access = await room_access(session, bot.id, room_id)
    return [c for c in await shoal.commands.available(access.house_id)
            if policy.allows(c.name) and access.allows(c.action)]


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


def command_text(parsed: ParsedCommand) -> str:
    """The call as a person would type it, for logs and the tool turn record."""
    return f"/{parsed.name} {parsed.raw_args}".rstrip()


async def run_tool(shoal: Shoal, bot: User, room_id: str, commands: Mapping[str, Command],
                   call: ToolCall) -> str:
    """Run one tool call as the bot, posting nothing; the ack's content or error as text."""
    command = commands.get(call.name)
    if command is None:
        return f"error: there is no tool named {call.name!r}"
    parsed = parse_call(command, call.arguments)
    ack = await shoal.command_runner.run_parsed(bot, room_id, parsed, post_result=False)
    text = str(ack["content"]) if ack.get("ok") else f"error: {ack.get('error')}"
    return text if len(text) <= MAX_RESULT_CHARS else text[:MAX_RESULT_CHARS] + "…"
