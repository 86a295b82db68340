"""The sub-agent layer: what children may not call, and what the server gives back."""

from __future__ import annotations

from typing import Any

from shoal.agents.config import ToolPolicy
from shoal.tools.base import Tool
from shoal.tools.policy import Layer, ServerToolPolicy, decide


def tool(name: str, *groups: str) -> Tool:
    async def run(arguments: dict[str, Any]) -> str:
        return ""
    return Tool(name, "", {"type": "object"}, groups, run)


TOOLS = [tool("sessions_spawn", "sessions"), tool("cron", "commands", "schedules"),
         tool("boot", "commands", "agents"), tool("bind", "commands", "rooms"),
         tool("memory_search", "memory"), tool("save", "commands", "notes"),
         tool("web_fetch", "web")]


def offered(server: ServerToolPolicy, agent: ToolPolicy | None = None) -> dict[str, str | None]:
    layers = [Layer("agent", agent or ToolPolicy()), server.subagent_layer()]
    return {t.name: (d.removed_by.rule if (d := decide(t, layers)).removed_by else None)
            for t in TOOLS}


def test_children_may_not_spawn_schedule_administer_or_read_memory() -> None:
    assert offered(ServerToolPolicy.parse({})) == {
        "sessions_spawn": "deny group:sessions", "cron": "deny group:schedules",
        "boot": "deny group:agents", "bind": "deny bind", "memory_search": "deny group:memory",
        "save": None, "web_fetch": None}


def test_the_server_gives_back_what_it_names_and_adds_its_own_denies() -> None:
    server = ServerToolPolicy.parse({"subagents": {"allow": ["group:memory"],
                                                   "deny": ["web_fetch"]}})
    found = offered(server)
    assert found["memory_search"] is None and found["web_fetch"] == "deny web_fetch"
    assert found["sessions_spawn"] == "deny group:sessions"
    # The parent's own deny still holds for its children: the layers only narrow.
    assert offered(server, ToolPolicy(deny=["save"]))["save"] == "deny save"
