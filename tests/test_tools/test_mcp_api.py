"""A house's MCP servers over REST: registration reaches the server and lists its tools,
tools answer through Shoal, and header values never come back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import pytest

from shoal.tools.base import ToolError, ToolScope
from shoal.tools.mcp import tool_name
from tests.support import ShoalServer, make_house, unique
from tests.test_tools.mcp_servers import API_KEY, Served, demo_server, serve_mcp


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.05)


async def register(house, name: str, url: str, **extra):  # type: ignore[no-untyped-def]
    r = await house.owner.post(f"/api/houses/{house.id}/mcp-servers",
                               {"name": name, "url": url, **extra})
    assert r.status_code == 201, r.text
    return r.json()


async def scope_of(server: ShoalServer, house_id: str) -> ToolScope:
    from shoal.store.tables import User
    async with server.shoal.db.read() as session:
        bot = await session.get(User, (await server.register()).id)
    assert bot is not None
    return ToolScope(bot, house_id, "")


async def test_registration_lists_the_tools_and_a_call_returns_the_result(
        shoal_server: ShoalServer, demo: Served, allow_loopback: None) -> None:
    house = await make_house(shoal_server)
    view = await register(house, "Demo", demo.url)
    assert view["name"] == "demo" and view["state"] == "ready" and view["error"] is None
    assert {"add", "fail", "needs_key"} <= set(view["tools"])
    assert view["transport"] == "streamable_http"

    found = await shoal_server.shoal.mcp.tools(await scope_of(shoal_server, house.id))
    tools = {t.name: t for t in found.tools}
    assert tool_name("demo", "add") == "demo__add" and "demo__add" in tools
    assert tools["demo__add"].groups == ("mcp", "mcp:demo")
    assert tools["demo__add"].parameters["required"] == ["a", "b"]
    answer = await tools["demo__add"].run({"a": 2, "b": 40})
    assert answer.splitlines() == ["42", '{"result": 42}']
    with pytest.raises(ToolError, match="the disk is full"):
        await tools["demo__fail"].run({"reason": "the disk is full"})


async def test_headers_reach_the_server_but_never_an_answer_or_a_log(
        shoal_server: ShoalServer, demo: Served, allow_loopback: None,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    house = await make_house(shoal_server)
    view = await register(house, "keyed", demo.url, headers={"X-Api-Key": API_KEY})
    assert view["header_names"] == ["X-Api-Key"]
    found = await shoal_server.shoal.mcp.tools(await scope_of(shoal_server, house.id))
    needs_key = next(t for t in found.tools if t.name == "keyed__needs_key")
    assert (await needs_key.run({})).startswith("key accepted")
    r = await house.owner.patch(f"/api/houses/{house.id}/mcp-servers/{view['id']}",
                                {"enabled": True})
    listed = await house.owner.get(f"/api/houses/{house.id}/mcp-servers")
    for answer in (r.text, listed.text, str(view)):
        assert API_KEY not in answer
    assert API_KEY not in caplog.text
    async with shoal_server.shoal.db.read() as session:
        from shoal.tools.mcp.tables import McpServer
        row = await session.get(McpServer, view["id"])
    assert row is not None and row.headers and API_KEY not in row.headers


async def test_an_unreachable_server_is_saved_with_its_state_and_left_out(
        shoal_server: ShoalServer, allow_loopback: None) -> None:
    house = await make_house(shoal_server)
    async with serve_mcp(demo_server()) as gone:
        url = gone.url
    view = await register(house, "gone", url)
    assert view["state"] == "error" and "unreachable" in view["error"]
    assert view["tools"] == []
    found = await shoal_server.shoal.mcp.tools(await scope_of(shoal_server, house.id))
    assert found.tools == [] and "unreachable" in found.unavailable["gone"]


async def test_a_server_stopped_after_listing_gives_a_tool_error(
        shoal_server: ShoalServer, allow_loopback: None) -> None:
    house = await make_house(shoal_server)
    async with serve_mcp(demo_server()) as served:
        await register(house, "brief", served.url)
        found = await shoal_server.shoal.mcp.tools(await scope_of(shoal_server, house.id))
        add = next(t for t in found.tools if t.name == "brief__add")
        assert (await add.run({"a": 1, "b": 1})).startswith("2")
        await served.stop()
        with pytest.raises(ToolError, match="brief is unreachable"):
            await add.run({"a": 1, "b": 1})
    listed = (await house.owner.get(f"/api/houses/{house.id}/mcp-servers")).json()
    assert listed[0]["state"] == "error"


async def test_a_slow_tool_is_cut_off_at_the_call_timeout(
        shoal_server: ShoalServer, demo: Served, allow_loopback: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    house = await make_house(shoal_server)
    await register(house, "patient", demo.url)
    monkeypatch.setattr(shoal_server.shoal.mcp.config, "call_timeout_seconds", 0.3)
    found = await shoal_server.shoal.mcp.tools(await scope_of(shoal_server, house.id))
    slow = next(t for t in found.tools if t.name == "patient__slow")
    with pytest.raises(ToolError, match="patient slow did not answer within 0.3 s"):
        await slow.run({"seconds": 30})
    # A slow tool is the tool's fault, not the server's: the server stays ready.
    assert (await slow.run({"seconds": 0})).startswith("finally")
    listed = (await house.owner.get(f"/api/houses/{house.id}/mcp-servers")).json()
    assert listed[0]["state"] == "ready"


async def test_the_tool_list_is_cached_until_its_time_to_live_runs_out(
        shoal_server: ShoalServer, allow_loopback: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    house = await make_house(shoal_server)
    scope = await scope_of(shoal_server, house.id)
    server = demo_server()
    async with serve_mcp(server) as served:
        await register(house, "quiet", served.url)

        def shout(text: str) -> str:
            """Say it loud."""
            return text.upper()

        server.add_tool(shout, name="shout")  # without telling clients the list changed

        async def names() -> set[str]:
            return {t.name for t in (await shoal_server.shoal.mcp.tools(scope)).tools}

        assert "quiet__shout" not in await names()  # the cached list, still fresh
        monkeypatch.setattr(shoal_server.shoal.mcp.config, "tools_ttl_seconds", 0.001)
        assert "quiet__shout" in await names()  # listed again once it went stale


async def test_a_changed_tool_list_is_picked_up(shoal_server: ShoalServer,
                                                allow_loopback: None) -> None:
    house = await make_house(shoal_server)
    async with serve_mcp(demo_server()) as served:
        await register(house, "growing", served.url)
        found = await shoal_server.shoal.mcp.tools(await scope_of(shoal_server, house.id))
        grow = next(t for t in found.tools if t.name == "growing__grow")
        assert await grow.run({}) == "grown\n{\"result\": \"grown\"}"

        async def echo_listed() -> bool:
            r = await house.owner.get(f"/api/houses/{house.id}/mcp-servers")
            return "echo" in r.json()[0]["tools"]

        await wait_until(echo_listed)


async def test_bad_input_and_roles(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    path = f"/api/houses/{house.id}/mcp-servers"
    cases = [
        ({"name": "Bad Name!", "url": "https://mcp.example.com/mcp"}, "name"),
        ({"name": "ok", "url": "ftp://mcp.example.com"}, "http"),
        ({"name": "ok", "url": "http://127.0.0.1:9/mcp"}, "outbound_allow_private"),
        ({"name": "ok", "url": "https://mcp.example.com/mcp", "headers": {"Bad Header": "x"}},
         "header name"),
        ({"name": "ok", "url": "https://mcp.example.com/mcp", "transport": "stdio"},
         "transport"),
    ]
    for body, words in cases:
        r = await house.owner.post(path, body)
        assert r.status_code == 400, (body, r.text)
        assert words in r.json()["error"], (body, r.text)
    for person in (house.admin, house.member):
        assert (await person.get(path)).status_code == 403
    r = await house.owner.post(path, {"name": unique("x")[:10], "url": "https://a.invalid/"})
    assert r.status_code == 201, r.text
    r = await house.owner.post(path, {"name": r.json()["name"], "url": "https://b.invalid/"})
    assert r.status_code == 409
