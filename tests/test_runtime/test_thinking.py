"""A builtin agent's thinking level: its own, else its house's, else the server's; a model
that reasons natively gets the level; one that does not is asked for <think> blocks, which are
shown in the run and stripped from the reply."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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
    [note] = [e for e in run["transcript"] if e["type"] == "record" and e["done"]]
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
    [note] = [e for e in run["transcript"] if e["type"] == "record" and e["done"]]
    assert note["reasoning"] == "Adding two and two."


REASONING = ("First, two and two are four. Then I check it by counting: one, two, three, "
             "four. So the answer is four.")


async def watch_reasoning(bench: Bench, trigger: dict[str, Any]) -> list[tuple[str, Any]]:
    """Run the activation while a person's socket is in the room; every event it heard."""
    person = await bench.house.member.socket()
    await person.join(bench.room_id)
    try:
        await bench.run(trigger)
        await person.wait_for("agent-run-complete")
        return list(person.events)
    finally:
        await person.close()


def check_streamed_reasoning(events: list[tuple[str, Any]], full: str, answer: str) -> None:
    """The reasoning grew live in the run (partial records, then the whole), and reached
    neither the answer's stream nor the room's messages."""
    records = [data for name, data in events if name == "agent-run-record"
               and isinstance(data.get("reasoning"), str)]
    partial = [r for r in records if r["done"] is False]
    [whole] = [r for r in records if r["done"] is True]
    assert partial and whole["reasoning"] == full
    assert all(full.startswith(r["reasoning"]) for r in partial)
    assert len(partial[0]["reasoning"]) < len(full)  # it arrived before the model finished
    first = next(i for i, (name, data) in enumerate(events) if data is partial[0])
    reply_at = next(i for i, (name, data) in enumerate(events)
                    if name == "message" and data["content"] == answer)
    assert first < reply_at
    assert {r["messageId"] for r in records} == {whole["messageId"]}
    for name, data in events:
        if name in ("message", "agent-run-stream"):
            assert "two and two" not in str(data) and "counting" not in str(data)


async def test_native_reasoning_streams_into_the_run_as_it_arrives(
        bench: Bench, thinker: FakeLLMServer) -> None:
    await bench.configure(model={"primary": REASONER, "fallbacks": []}, thinking="high")
    thinker.script(Reply("Four.", reasoning=REASONING, chunk_delay=0.02))
    trigger = await bench.say("Scout, 2 + 2?")
    events = await watch_reasoning(bench, trigger)
    check_streamed_reasoning(events, REASONING, "Four.")
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["content"] == "Four."
    # Read back later, the run keeps the whole reasoning once, after its first part.
    run = await run_of(bench)
    notes = [e for e in run["transcript"] if e["type"] == "record"]
    assert notes[0]["done"] is False and notes[-1] == {**notes[-1], "done": True,
                                                       "reasoning": REASONING}


async def test_think_blocks_stream_into_the_run_and_never_into_the_answer(
        bench: Bench, thinker: FakeLLMServer) -> None:
    await bench.configure(model={"primary": FAKE_MODEL, "fallbacks": []}, thinking="medium")
    thinker.script(Reply(f"<think>{REASONING}</think>\n\nIt is four.", chunk_delay=0.02))
    trigger = await bench.say("Scout, what is 2 + 2?")
    events = await watch_reasoning(bench, trigger)
    check_streamed_reasoning(events, REASONING, "It is four.")
    # The answer streamed live too (the reasoning opened the run), without the reasoning.
    streamed = [d for n, d in events if n == "agent-run-stream"]
    assert streamed and streamed[-1]["content"] == "It is four."
