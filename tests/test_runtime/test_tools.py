"""Agents' tools through a real server: the layered policy (server, provider, model, house,
agent) with groups and wildcards, the explain endpoint, and the one call path (approval from
any layer, refusals, failures, size caps, the activation's record of each call)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from shoal.config import load_settings
from shoal.errors import InvalidInput
from shoal.llm.fakeserver import FakeLLMServer, FakeToolCall, Reply
from shoal.tools.base import Tool, ToolError, ToolList, ToolScope
from shoal.tools.policy import ServerToolPolicy
from shoal.tools.registry import MAX_RESULT_CHARS
from tests.test_runtime.conftest import FAKE_MODEL, Bench

ServerTools = Callable[[str], None]


@pytest.fixture
def server_tools(bench: Bench, tmp_path: Path) -> Iterator[ServerTools]:
    """Set the server's `[tools]` table, as written in a configuration file, for one test."""
    registry = bench.server.shoal.tools
    saved = registry.server

    def configure(toml: str) -> None:
        path = tmp_path / "shoal.toml"
        path.write_text(toml)
        registry.server = ServerToolPolicy.parse(load_settings(path).tools.policy_table)

    yield configure
    registry.server = saved


async def explain(bench: Bench, **params: str) -> dict[str, Any]:
    r = await bench.house.owner.get(f"/api/agents/{bench.bot_id}/tools", params=params)
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


def offered(found: dict[str, Any]) -> set[str]:
    return {t["name"] for t in found["tools"]}


def removed(found: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {t["name"]: t["removed_by"] for t in found["removed"]}


async def set_house_tools(bench: Bench, tools: dict[str, Any]) -> None:
    r = await bench.house.owner.patch(f"/api/houses/{bench.house.id}/settings", {"tools": tools})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(("layer", "rule"), [
    ("server", "deny save"),
    ("provider openai", "deny group:notes"),
    (f"model {FAKE_MODEL}", "deny notes:s*"),
    ("house", "deny sa?e"),
    ("agent", "deny group:note*"),
])
async def test_a_deny_at_each_layer_removes_the_tool(
        bench: Bench, fake: FakeLLMServer, server_tools: ServerTools, layer: str, rule: str
        ) -> None:
    pattern = rule.removeprefix("deny ")
    if layer == "server":
        server_tools(f'[tools]\ndeny = ["{pattern}"]\n')
    elif layer.startswith(("provider", "model")):
        key = layer.split(" ", 1)[1]
        server_tools(f'[tools.by_provider."{key}"]\ndeny = ["{pattern}"]\n'
                     '[tools.by_provider."anthropic"]\ndeny = ["who"]\n')
    elif layer == "house":
        await set_house_tools(bench, {"deny": [pattern]})
    else:
        await bench.configure(model={"primary": FAKE_MODEL}, tools={"deny": [pattern]})
    found = await explain(bench, room=bench.room_id)
    assert removed(found)["save"] == {"layer": layer, "rule": rule}
    assert "save" not in offered(found) and "who" in offered(found)  # anthropic's is not ours
    fake.script(Reply("Nothing to save."))
    await bench.run(await bench.say("Scout, save a b"))
    names = {t["function"]["name"] for t in fake.requests[0].body["tools"]}
    assert "save" not in names and "who" in names  # the model is not offered it either
    assert "- save:" not in json.dumps(fake.requests[0].body)


async def test_groups_and_wildcards_expand_and_the_deciding_layer_is_named(
        bench: Bench) -> None:
    await bench.configure(model={"primary": FAKE_MODEL},
                          tools={"allow": ["group:notes", "rooms:wh?", "help"]})
    await set_house_tools(bench, {"deny": ["clear*"]})
    found = await explain(bench, room=bench.room_id)
    assert offered(found) == {"notes", "save", "get", "memory", "who", "help"}
    gone = removed(found)
    assert gone["clearnote"] == {"layer": "house", "rule": "deny clear*"}
    assert gone["roll"] == {"layer": "agent",
                            "rule": "allow lists only group:notes, rooms:wh?, help"}
    save = next(t for t in found["tools"] if t["name"] == "save")
    assert save["groups"] == ["commands", "notes"] and save["needs_approval"] is False
    assert found["layers"] == ["server", "house", "agent"] and found["model"] == FAKE_MODEL
    # A member bot may not bind rooms: the source says why it is not offered at all.
    assert "admin" in found["unavailable"]["bind"]


async def test_the_explain_endpoint_is_for_those_who_may_see_the_agents_config(
        bench: Bench) -> None:
    route = f"/api/agents/{bench.bot_id}/tools"
    r = await bench.house.admin.get(route, params={"house": bench.house.id})
    assert r.status_code == 200 and r.json()["room_id"] is None
    assert (await bench.house.member.get(route)).status_code == 403
    stranger = await bench.server.register()
    assert (await stranger.get(route)).status_code == 404
    r = await bench.house.owner.get(route, params={"room": "no-such-room"})
    assert r.status_code == 404 and r.json() == {"error": "room not found"}


@pytest.mark.parametrize("layer", ["server", "house", "agent"])
async def test_approval_from_any_layer_gates_the_call(
        bench: Bench, fake: FakeLLMServer, server_tools: ServerTools, layer: str) -> None:
    config: dict[str, Any] = {"model": {"primary": FAKE_MODEL}}
    if layer == "server":
        server_tools('[tools]\napproval = ["group:notes"]\n')
    elif layer == "house":
        await set_house_tools(bench, {"approval": ["group:notes"]})
    else:
        config["tools"] = {"approval": ["group:notes"]}
    await bench.configure(**config)
    found = await explain(bench, room=bench.room_id)
    save = next(t for t in found["tools"] if t["name"] == "save")
    assert save["needs_approval"] is True
    assert save["approval_by"] == [{"layer": layer, "rule": "approval group:notes"}]

    fake.script(Reply(tool_calls=[FakeToolCall("save", {"key": "k", "value": "v"})]),
                Reply("Saved."))
    sock = await bench.house.member.socket()
    await sock.join(bench.room_id)
    task = asyncio.create_task(bench.run(await bench.say("save k v please")))
    (asked,) = await sock.wait_for("agent-run-permission")
    assert asked["action"] == "/save" and not task.done()
    r = await bench.house.member.post(
        f"/api/runs/{asked['runId']}/permissions/{asked['permissionId']}",
        {"decision": "approve"})
    assert r.status_code == 200, r.text
    assert (await task).outcome == "replied"
    await sock.close()


async def activation_tools(bench: Bench) -> list[dict[str, Any]]:
    r = await bench.house.owner.get(f"/api/agents/{bench.bot_id}/activations")
    assert r.status_code == 200, r.text
    return r.json()[0]["tools"]  # type: ignore[no-any-return]


async def test_a_call_of_a_tool_the_policy_removed_is_refused_as_a_tool_error(
        bench: Bench, fake: FakeLLMServer) -> None:
    await bench.configure(model={"primary": FAKE_MODEL}, tools={"deny": ["save"]})
    fake.script(Reply(tool_calls=[FakeToolCall("save", {"key": "k", "value": "v"})]),
                Reply("I may not save."))
    outcome = await bench.run(await bench.say("Scout, save k v"))
    assert outcome.outcome == "replied"
    assert "error: save is not allowed here (the agent policy: deny save)" in json.dumps(
        fake.requests[1].body)
    r = await bench.house.member.post(f"/api/agencies/{bench.room_id}/messages",
                                      {"content": "/notes"})
    assert "No notes" in r.json()["content"]
    [call] = await activation_tools(bench)
    assert call["name"] == "save" and call["status"] == "refused"


async def test_tool_timings_and_statuses_appear_in_the_activation_record(
        bench: Bench, fake: FakeLLMServer) -> None:
    fake.script(Reply(tool_calls=[FakeToolCall("save", {"key": "a", "value": "b"}),
                                  FakeToolCall("get", {"key": "missing"})]),
                Reply("Done."))
    await bench.run(await bench.say("Scout, save a b"))
    calls = await activation_tools(bench)
    assert [(c["name"], c["status"]) for c in calls] == [("save", "done"), ("get", "error")]
    assert all(isinstance(c["duration_ms"], int) for c in calls)


class OddTools:
    """A source with a tool that raises unexpectedly, one that fails as a tool, one whose
    answer is too long, and one named like a slash command; only in one house."""

    def __init__(self, house_id: str) -> None:
        self.house_id = house_id

    async def tools(self, scope: ToolScope) -> ToolList:
        if scope.house_id != self.house_id:
            return ToolList()

        async def boom(_: dict[str, Any]) -> str:
            raise RuntimeError("a bug")

        async def refuse(_: dict[str, Any]) -> str:
            raise ToolError("the page is too large")

        async def flood(_: dict[str, Any]) -> str:
            return "x" * (MAX_RESULT_CHARS * 3)

        schema = {"type": "object", "properties": {}}
        return ToolList([Tool(name, name, schema, ("odd",), run) for name, run in (
            ("boom", boom), ("refuse", refuse), ("flood", flood), ("save", boom))],
            {"odd:down": "its server is down"})


async def test_a_failing_tool_is_a_tool_error_and_the_activation_goes_on(
        bench: Bench, fake: FakeLLMServer, caplog: pytest.LogCaptureFixture) -> None:
    bench.server.shoal.tools.add_source(OddTools(bench.house.id))
    fake.script(Reply(tool_calls=[FakeToolCall("boom", {}), FakeToolCall("refuse", {}),
                                  FakeToolCall("flood", {}), FakeToolCall("save", {
                                      "key": "a", "value": "b"})]),
                Reply("Some of that worked."))
    with caplog.at_level(logging.WARNING, logger="shoal.tools"):
        outcome = await bench.run(await bench.say("Scout, try everything"))
    assert outcome.outcome == "replied"
    results = [m["content"] for m in fake.requests[1].body["messages"] if m["role"] == "tool"]
    assert results[0] == "error: the tool failed unexpectedly; the server logged it"
    assert results[1] == "error: the page is too large"
    assert results[2] == "x" * MAX_RESULT_CHARS + "…"
    assert results[3] == "Saved note a."  # the slash command, added first, keeps the name
    assert "tool boom failed unexpectedly" in caplog.text
    assert "two tool sources offer a tool named save" in caplog.text
    found = await explain(bench, room=bench.room_id)
    assert found["unavailable"]["odd:down"] == "its server is down"
    assert next(t for t in found["tools"] if t["name"] == "save")["groups"] == [
        "commands", "notes"]


async def test_the_house_tools_setting_is_checked_and_for_owners(bench: Bench) -> None:
    route = f"/api/houses/{bench.house.id}/settings"
    r = await bench.house.owner.patch(route, {"tools": {"deny": ["group:"]}})
    assert r.status_code == 400
    assert r.json()["error"].startswith("tools.deny: 'group:' is not a tool pattern")
    r = await bench.house.owner.patch(route, {"tools": {"block": ["save"]}})
    assert r.status_code == 400 and "tools.block" in r.json()["error"]
    r = await bench.house.admin.patch(route, {"tools": {"deny": ["save"]}})
    assert r.status_code == 403
    r = await bench.house.owner.patch(route, {"tools": {"deny": ["save"]}})
    assert r.json()["tools"] == {"deny": ["save"]}
    assert (await bench.house.member.get(route)).json()["tools"] == {"deny": ["save"]}


async def test_an_agents_tool_policy_is_checked_as_the_houses_is(bench: Bench) -> None:
    route = f"/api/agents/{bench.bot_id}/config"
    r = await bench.house.owner.patch(route, {"tools": {"deny": ["not a pattern"]}})
    assert r.status_code == 400
    assert r.json()["error"].startswith("tools.deny: 'not a pattern' is not a tool pattern")
    r = await bench.house.owner.patch(route, {"tools": {"alow": ["save"]}})
    assert r.status_code == 400 and "tools.alow" in r.json()["error"]
    r = await bench.house.owner.patch(route, {"tools": {"deny": ["mcp:github__*"]}})
    assert r.status_code == 200 and r.json()["config"]["tools"]["deny"] == ["mcp:github__*"]


def test_a_bad_tools_table_in_the_configuration_file_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "shoal.toml"
    path.write_text('[tools]\nallow = "save"\n[tools.by_provider."openai"]\nask = ["x"]\n')
    with pytest.raises(InvalidInput) as caught:
        ServerToolPolicy.parse(load_settings(path).tools.policy_table)
    assert "tools.allow must be a list" in caught.value.message
    assert "tools.by_provider.openai.ask" in caught.value.message
