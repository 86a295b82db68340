"""/mcp: call a tool of one of the house's MCP servers, or see which servers and tools there
are."""

from __future__ import annotations

from typing import Any

from shoal.commands.registry import Arg, Command, CommandContext, CommandResult, UsageError
from shoal.jsontext import parse_json


async def run_mcp(ctx: CommandContext) -> CommandResult:
    """List the servers (and a server's tools), or call one tool with JSON arguments."""
    server, tool = ctx.args.get("server"), ctx.args.get("tool")
    if tool is None:
        return await _overview(ctx, server)
    arguments = _arguments(ctx.args.get("arguments", ""))
    text = await ctx.services.mcp.run_tool(ctx.room.house_id, server or "", tool, arguments)
    return CommandResult(text or "(the tool answered nothing)",
                         metadata={"mcp": {"server": server, "tool": tool}})


def _arguments(text: str) -> dict[str, Any]:
    if not text.strip():
        return {}
    try:
        value = parse_json(text.encode(), "the arguments")
    except ValueError:
        raise UsageError('the arguments must be one JSON object, like {"path": "notes.md"}') \
            from None
    if not isinstance(value, dict):
        raise UsageError('the arguments must be one JSON object, like {"path": "notes.md"}')
    return value


async def _overview(ctx: CommandContext, only: str | None) -> CommandResult:
    servers = await ctx.services.mcp.overview(ctx.room.house_id)
    if only is not None:
        servers = [s for s in servers if s[0] == only.lower()]
        if not servers:
            raise UsageError(f"this house has no MCP server named {only!r}; /mcp lists them")
    if not servers:
        return CommandResult("This house has no MCP servers.", ephemeral=True)
    lines = [f"{name} ({state}): {', '.join(tools) or 'no tools'}"
             for name, state, tools in servers]
    return CommandResult("MCP servers:\n" + "\n".join(lines), ephemeral=True,
                         metadata={"servers": [{"name": n, "state": s, "tools": t}
                                               for n, s, t in servers]})


COMMANDS = [
    Command(
        name="mcp",
        description="Call a tool of one of the house's MCP servers with JSON arguments; with "
                    "no tool, list the servers and their tools.",
        handler=run_mcp,
        args=(Arg("server", required=False), Arg("tool", required=False),
              Arg("arguments", required=False, rest=True)),
        example='/mcp files read_file {"path": "notes.md"}',
    ),
]
