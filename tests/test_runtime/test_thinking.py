"""A builtin agent's thinking level: its own, else its house's, else the server's; a model
that reasons natively gets the level; one that does not is asked for <think> blocks, which are
shown in the run and stripped from the reply."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shoal.llm import Catalog, KeyRing, LLMConfig, ModelConfig, ModelRouter, ProviderConfig
from shoal.llm.fakeserver import FakeLLMServer, Reply
from tests.support import ShoalServer
from tests.test_runtime.conftest import FAKE_MODEL, Bench
from tests.test_runtime.test_builtin_runs import run_of

REASONER = "openai/fake-reasoner"


@pytest.fixture
def thinker(fake_server: FakeLLMServer, shoal_server: ShoalServer) -> Iterator[FakeLLMServer]:
    """The fake provider, where `openai/fake-reasoner` reasons natively and `fake-gpt` not."""
    fake_server.reset()
    catalog = Catalog(LLMConfig(
        providers={"openai": ProviderConfig(kind="openai", base_url=fake_server.openai_base_url,
                                            api_key_env=["OPENAI_API_KEY"])},
        models={REASONER: ModelConfig(reasoning=True)}), env={})
    shoal = shoal_server.shoal
    saved = shoal.models
    shoal.models = ModelRouter(catalog, KeyRing(env={"OPENAI_API_KEY": "sk-test"}))
    yield fake_server
    shoal.models = saved


async def test_think_blocks_go_to_the_run_and_never_into_the_reply(
        bench: Bench, thinker: FakeLLMServer) -> None:
    r = await bench.house.owner.post(f"/api/agencies/{bench.room_id}/messages", {
        "content": f"/agent customize @{await handle(bench)} thinking high"})
    assert r.status_code in (200, 201), r.text
    thinker.script(Reply("<think>The user wants the sum. 2 + 2 = 4.</think>\n\nIt is 4."))
    trigger = await bench.say("Scout, what is 2 + 2?")
    outcome = await bench.run(trigger)
    assert outcome.outcome == "replied"
    [request] = thinker.requests
    system = request.body["messages"][0]["content"]
    assert "## Reasoning Format" in system and "<think>" in system
    assert "reasoning_effort" not in request.body  # fake-gpt does not reason natively
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["content"] == "It is 4."
    run = await run_of(bench)
    [note] = [e for e in run["transcript"] if e["type"] == "record"]
    assert note["reasoning"] == "The user wants the sum. 2 + 2 = 4."
    assert "2 + 2 = 4" not in str([e for e in run["transcript"] if e["type"] != "record"])


async def test_the_house_default_reaches_a_reasoning_model(bench: Bench,
                                                           thinker: FakeLLMServer) -> None:
    await bench.configure(model={"primary": REASONER, "fallbacks": []})
    r = await bench.house.owner.patch(f"/api/houses/{bench.house.id}/settings",
                                      {"thinking_default": "medium"})
    assert r.status_code == 200, r.text
    thinker.script(Reply("Four."), Reply("Four again."))
    await bench.run(await bench.say("Scout, 2 + 2?"))
    assert thinker.requests[0].body["reasoning_effort"] == "medium"
    assert "Reasoning Format" not in thinker.requests[0].body["messages"][0]["content"]
    # The agent's own level wins over the house's; off sends none.
    await bench.configure(model={"primary": REASONER, "fallbacks": []}, thinking="off")
    await bench.run(await bench.say("Scout, again?"))
    assert "reasoning_effort" not in thinker.requests[1].body
    r = await bench.house.owner.patch(f"/api/houses/{bench.house.id}/settings",
                                      {"thinking_default": "lots"})
    assert r.status_code == 400 and "off, low, medium, high" in r.json()["error"]


async def test_without_any_level_the_server_default_is_off(bench: Bench,
                                                           thinker: FakeLLMServer) -> None:
    await bench.configure(model={"primary": FAKE_MODEL, "fallbacks": []})
    thinker.script(Reply("<b>not a think tag</b> hi"))
    trigger = await bench.say("Scout, hi")
    await bench.run(trigger)
    assert "Reasoning Format" not in thinker.requests[0].body["messages"][0]["content"]
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["content"] == "<b>not a think tag</b> hi"


async def handle(bench: Bench) -> str:
    members = (await bench.house.owner.get(f"/api/agencies/{bench.room_id}/members")).json()
    return str(next(m["handle"] for m in members if m["id"] == bench.bot_id))


async def test_a_reasoning_models_own_reasoning_shows_in_the_run(bench: Bench,
                                                                 thinker: FakeLLMServer) -> None:
    await bench.configure(model={"primary": REASONER, "fallbacks": []}, thinking="low")
    thinker.script(Reply("Four.", reasoning="Adding two and two."))
    trigger = await bench.say("Scout, 2 + 2?")
    await bench.run(trigger)
    assert thinker.requests[0].body["reasoning_effort"] == "low"
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["content"] == "Four."
    run = await run_of(bench)
    [note] = [e for e in run["transcript"] if e["type"] == "record"]
    assert note["reasoning"] == "Adding two and two."
