"""An SDK agent spawns a builtin child with its own session and awaits the handle."""

from __future__ import annotations

import pytest

from shoal.llm.fakeserver import FakeLLMServer, Reply
from shoal.sdk import Agent, RequestError
from tests.support import ShoalServer
from tests.test_dispatch.conftest import make_bot
from tests.test_sdk.bots import make_sdk_bot
from tests.test_subagents.conftest import CHILD_MODEL


async def test_an_sdk_agent_spawns_a_builtin_child_and_awaits_it(
        shoal_server: ShoalServer, fake: FakeLLMServer) -> None:
    sdk_bot = await make_sdk_bot(shoal_server)
    helper = await make_bot(shoal_server, sdk_bot.house,
                            model={"primary": CHILD_MODEL, "fallbacks": []})
    fake.script(Reply("the summary you asked for"), model=CHILD_MODEL.split("/")[1])
    async with Agent(shoal_server.url, sdk_bot.token) as agent:
        await agent.join(sdk_bot.house.room_id)
        with pytest.raises(RequestError) as refused:
            await agent.spawn("summarise the room", agent=f"@{helper['handle']}")
        assert refused.value.status == 400
        assert "subagents.allow_agents does not list that agent" in str(refused.value)
        with pytest.raises(RequestError) as itself:
            await agent.spawn("summarise the room")
        assert "runs on the sdk runtime" in str(itself.value)
        r = await sdk_bot.house.owner.patch(f"/api/agents/{sdk_bot.id}/config",
                                            {"subagents": {"allow_agents": ["*"]}})
        assert r.status_code == 200, r.text
        child = await agent.spawn("summarise the room", agent=f"@{helper['handle']}",
                                  label="summary")
        assert child.state in ("pending", "running", "completed")
        done = await child
        assert (done.state, done.result, done.label) == (
            "completed", "the summary you asked for", "summary")
    request = [r for r in fake.requests if r.model == CHILD_MODEL.split("/")[1]][0]
    assert [m["content"] for m in request.body["messages"] if m["role"] == "user"] == [
        "summarise the room"]
