"""What every tool is, whatever runs it, and what supplies tools to the registry.

A `ToolSource` (slash commands, the web tools, one per MCP server set, later memory, sub-agents
and crews) answers the tools it offers in a scope. The registry gathers every source's tools,
the layered policy picks the ones offered, and every call goes through the same path (policy,
approval, tool card, timing in the activation, size cap); a source only runs the call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from shoal.store.tables import User


class ToolError(Exception):
    """A failure the model should read (bad arguments, a server down, a page too large): the
    call's result becomes `error: <message>`; the activation goes on."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class ToolScope:
    """Where a tool would run: the bot calling it, in a room of a house, during one of its
    activations (None when only listing, as the explain endpoint does)."""

    bot: User
    house_id: str
    room_id: str
    activation_id: str | None = None


# Runs one call with the model's arguments; answers the result as text, or raises ToolError.
RunTool = Callable[[dict[str, Any]], Awaitable[str]]


@dataclass(frozen=True)
class Tool:
    """One tool as the model sees it, the groups it belongs to (policies name them as
    `group:<name>`: "commands", "notes", "web", "mcp", "mcp:<server>"), and how it runs."""

    name: str  # [A-Za-z0-9_-], at most 64 characters: what every provider accepts
    description: str
    parameters: dict[str, Any]  # a JSON schema of an object
    groups: tuple[str, ...]
    run: RunTool


@dataclass
class ToolList:
    """A source's tools in a scope, and what it could not offer and why (a server that is
    down: its tools are left out and the bot page says why)."""

    tools: list[Tool] = field(default_factory=list)
    unavailable: dict[str, str] = field(default_factory=dict)  # what -> why


class ToolSource(Protocol):
    """Supplies tools to the registry."""

    async def tools(self, scope: ToolScope) -> ToolList:
        """The tools this source offers the bot in this room (before any policy)."""
        ...
