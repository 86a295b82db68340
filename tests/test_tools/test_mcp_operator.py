"""Servers the operator declares in `[mcp]` (a stdio process, an SSE endpoint), SDK agents
calling MCP tools, and the outbound guard in front of a house's servers."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from shoal.errors import InvalidInput
from shoal.net.outbound import OutboundPolicy
from shoal.sdk import Agent
from shoal.tools.base import ToolScope
from shoal.tools.mcp import MCPConfig, MCPService
from tests.support import ShoalServer, fake_dns, make_house
from tests.test_sdk.bots import make_sdk_bot
from tests.test_tools.mcp_servers import Served, demo_server, serve_mcp

STDIO_SERVER = Path(__file__).with_name("stdio_server.py")


def service(server: ShoalServer, table: dict) -> MCPService:  # type: ignore[type-arg]
    shoal = server.shoal
    return MCPService(shoal.db, shoal.secrets, MCPConfig.parse(table), OutboundPolicy)


async def test_a_stdio_server_from_the_configuration_serves_its_houses(
        shoal_server: ShoalServer) -> None:
    house, other = await make_house(shoal_server), await make_house(shoal_server)
    mcp = service(shoal_server, {"servers": {"local": {
        "command": [sys.executable, str(STDIO_SERVER)], "env": {"GREETING": "hey "},
        "houses": [house.id]}}})
    try:
        bot = (await shoal_server.register()).user
        from shoal.store.tables import User
        async with shoal_server.shoal.db.read() as session:
            user = await session.get(User, bot["id"])
        assert user is not None
        found = await mcp.tools(ToolScope(user, house.id, house.room_id))
        shout = next(t for t in found.tools if t.name == "local__shout")
        assert shout.groups == ("mcp", "mcp:local")
        assert (await shout.run({"text": "tide"})).startswith("hey TIDE")
        assert (await mcp.tools(ToolScope(user, other.id, other.room_id))).tools == []
    finally:
        await mcp.close()


async def test_an_sse_server_from_the_configuration_answers() -> None:
    async with serve_mcp(demo_server(), "sse") as served:
        config = MCPConfig.parse({"servers": {"old": {"url": served.url, "transport": "sse"}}})
        mcp = MCPService(None, None, config, OutboundPolicy)  # type: ignore[arg-type]
        try:
            server = mcp._operator["old"]
            check = await mcp.check(server)
            assert check.reachable and "add" in check.tools
            assert (await mcp.call(server, "add", {"a": 1, "b": 2})).startswith("3")
        finally:
            await mcp.close()


def test_the_configuration_is_checked() -> None:
    for table, words in [({"servers": {"Bad Name": {"url": "http://x"}}}, "server name"),
                         ({"servers": {"x": {}}}, "either command"),
                         ({"servers": {"x": {"command": ["a"], "url": "http://x"}}},
                          "either command"),
                         ({"call_timeout_seconds": 0}, "call_timeout_seconds")]:
        with pytest.raises(InvalidInput, match=words):
            MCPConfig.parse(table)


async def test_an_sdk_agent_calls_an_mcp_tool_with_execute_command(
        shoal_server: ShoalServer, demo: Served, allow_loopback: None) -> None:
    bot = await make_sdk_bot(shoal_server)
    r = await bot.house.owner.post(f"/api/houses/{bot.house.id}/mcp-servers",
                                   {"name": "demo", "url": demo.url})
    assert r.status_code == 201, r.text
    async with Agent(shoal_server.url, bot.token) as agent:
        await agent.join(bot.house.room_id)
        result = await agent.execute_command('/mcp demo add {"a": 5, "b": 6}')
        assert result.ok and result.content.startswith("11")


async def test_the_outbound_guard_refuses_a_name_that_resolves_to_loopback(
        shoal_server: ShoalServer, demo: Served, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"mcp.example.test": ["127.0.0.1"]})
    house = await make_house(shoal_server)
    port = demo.url.rsplit(":", 1)[1]
    r = await house.owner.post(f"/api/houses/{house.id}/mcp-servers",
                               {"name": "sneaky", "url": f"http://mcp.example.test:{port}"})
    assert r.status_code == 201, r.text
    view = r.json()
    assert view["state"] == "error" and view["tools"] == []
    assert "outbound_allow_private" in view["error"]
