"""Compaction that never forgets, through a real server and the fake provider: the memory
flush saves a note first, a summary stands in for the oldest turns, the agent answers from
it, and neither the room's log nor the session's turns lose anything."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from shoal.llm.fakeserver import FakeLLMServer, FakeToolCall, Fault, Reply
from shoal.memory.tables import MemoryNote
from shoal.runtime.compaction import FLUSH_PROMPT, SUMMARY_SYSTEM, CompactionEvent
from tests.test_runtime.conftest import SMALL_MODEL, Bench

FILLER = "words " * 800  # about 1,200 tokens a message


def body(fake: FakeLLMServer, index: int) -> dict[str, Any]:
    return fake.requests[index].body


def tools_of(fake: FakeLLMServer, index: int) -> set[str]:
    return {t["function"]["name"] for t in body(fake, index).get("tools", [])}


def text_of(fake: FakeLLMServer, index: int) -> str:
    return json.dumps(body(fake, index)["messages"])


async def activation(bench: Bench, activation_id: str | None = None) -> dict[str, Any]:
    r = await bench.house.member.get(f"/api/agents/{bench.bot_id}/activations")
    assert r.status_code == 200, r.text
    rows = r.json()
    return rows[0] if activation_id is None else next(a for a in rows if a["id"] == activation_id)


async def session_turns(bench: Bench) -> list[dict[str, Any]]:
    r = await bench.house.member.get(
        f"/api/agents/{bench.bot_id}/sessions/room:{bench.room_id}", params={"limit": 1000})
    assert r.status_code == 200, r.text
    return r.json()["turns"]  # type: ignore[no-any-return]


MEMORY_TOOLS = {"memory_save", "memory_get", "memory_search"}  # what a flush may use


async def notes(bench: Bench) -> list[str]:
    """The texts of the memory notes saved in the bench's room."""
    async with bench.server.shoal.db.read() as session:
        return list((await session.scalars(select(MemoryNote.text).where(
            MemoryNote.room_id == bench.room_id))).all())


async def long_conversation(bench: Bench) -> dict[str, Any]:
    """A fact, then enough long messages to cross a 16,000-token window, then a question
    about the fact."""
    await bench.configure(model={"primary": SMALL_MODEL})
    await bench.say("For the record: the launch code is blue-42.")
    for i in range(11):
        await bench.say(f"long message {i} {FILLER}")
    return await bench.say("Scout, what is the launch code?")


async def test_a_long_conversation_is_flushed_then_summarized_and_still_answered(
        bench: Bench, fake: FakeLLMServer) -> None:
    events: list[CompactionEvent] = []

    async def heard(event: CompactionEvent) -> None:
        events.append(event)

    unsubscribe = bench.server.shoal.compactions.subscribe(heard)
    trigger = await long_conversation(bench)
    fake.script(
        Reply(tool_calls=[FakeToolCall("memory_save", {"text": "The launch code is blue-42.",
                                                       "scope": "room"})]),
        Reply("Earlier, a member said the launch code is blue-42; then long messages of "
              "words followed."),
        Reply("The launch code is blue-42."),
    )
    try:
        outcome = await bench.run(trigger)
    finally:
        unsubscribe()

    assert outcome.outcome == "replied"
    assert len(fake.requests) == 3
    # First the flush: only the saving tool, the turns about to leave the context, the ask.
    assert tools_of(fake, 0) == MEMORY_TOOLS
    assert FLUSH_PROMPT in text_of(fake, 0) and "the launch code is blue-42" in text_of(fake, 0)
    # Then the summary, of those turns, with no tools.
    assert body(fake, 1)["messages"][0]["content"] == SUMMARY_SYSTEM
    assert "tools" not in body(fake, 1) and "blue-42" in text_of(fake, 1)
    # Then the answer: the summary first, the fact's own turn gone from the context.
    turns = body(fake, 2)["messages"][1:]
    assert turns[0]["content"].startswith("[Summary of the earlier conversation (turns 1-")
    assert "the launch code is blue-42" in turns[0]["content"]
    assert not any("For the record" in t["content"] for t in turns)
    assert turns[-1]["content"].endswith(": Scout, what is the launch code?")
    assert "long message 10 " in turns[-2]["content"]
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["content"] == "The launch code is blue-42."
    # The flush really saved a note.
    assert await notes(bench) == ["The launch code is blue-42."]

    # Nothing is deleted: the room log and every turn of the session stay.
    log = await bench.messages_after(0)
    assert log[0]["content"] == "For the record: the launch code is blue-42."
    assert len([m for m in log if m["sender_id"] != bench.bot_id]) == 13
    stored = await session_turns(bench)
    assert [t["role"] for t in stored].count("user") == 13
    assert stored[0]["content"].endswith("For the record: the launch code is blue-42.")
    [summary] = [t for t in stored if t["role"] == "summary"]
    first, last = summary["covers"]
    assert first == 1 and 1 < last < 13 and "blue-42" in summary["content"]
    assert stored[-1] == {**stored[-1], "role": "assistant",
                          "content": "The launch code is blue-42.",
                          "message_id": reply["id"]}

    # The activation records the compaction and its flush; the event was told.
    record = await activation(bench)
    [compaction] = record["compactions"]
    assert compaction["reason"] == "threshold" and compaction["covers"] == [first, last]
    assert compaction["summary_turn"] == summary["index"]
    assert compaction["flush"]["status"] == "saved"
    assert compaction["flush"]["saved"][0]["arguments"] == {
        "text": "The launch code is blue-42.", "scope": "room"}
    [event] = events
    assert (event.reason, event.covers_from, event.covers_to) == ("threshold", first, last)
    assert event.flush["status"] == "saved" and event.room_id == bench.room_id

    # The next wake starts from the summary, not from the turns it covers.
    fake.script(Reply("Still blue-42."))
    await bench.run(await bench.say("Scout, and now?"))
    later = body(fake, 3)["messages"][1:]
    assert later[0]["content"].startswith("[Summary of the earlier conversation")
    assert not any("For the record" in t["content"] for t in later)
    assert later[-2]["content"] == "The launch code is blue-42."


async def test_a_context_overflow_flushes_first_then_compacts_and_retries(
        bench: Bench, fake: FakeLLMServer) -> None:
    await bench.say("Remember: the demo is on Friday at 3pm.")
    for i in range(9):
        await bench.say(f"message {i}")
    fake.script(
        Fault.context_length(),
        # The flush may use only the memory tools: the second call is refused, not run.
        Reply(tool_calls=[FakeToolCall("memory_save", {"text": "The demo is Friday 3pm."}),
                          FakeToolCall("memory_forget", {"id": "anything"})]),
        Reply("A member said the demo is on Friday at 3pm; nine short messages followed."),
        Reply("Short answer."),
    )
    trigger = await bench.say("the question")
    outcome = await bench.run(trigger)

    assert outcome.outcome == "replied"
    assert len(fake.requests) == 4
    assert tools_of(fake, 1) == MEMORY_TOOLS and FLUSH_PROMPT in text_of(fake, 1)
    assert body(fake, 2)["messages"][0]["content"] == SUMMARY_SYSTEM
    full, retried = body(fake, 0)["messages"], body(fake, 3)["messages"]
    assert len(retried) < len(full)
    assert retried[1]["content"].startswith("[Summary of the earlier conversation")
    assert retried[-1]["content"].endswith(": the question")
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["content"] == "Short answer."
    assert await notes(bench) == ["The demo is Friday 3pm."]
    [compaction] = (await activation(bench))["compactions"]
    assert compaction["reason"] == "overflow" and compaction["flush"]["status"] == "saved"
    assert [(c["tool"], c["status"]) for c in compaction["flush"]["saved"]] == [
        ("memory_save", "done"), ("memory_forget", "refused")]


async def test_a_flush_that_fails_is_recorded_and_compaction_still_happens(
        bench: Bench, fake: FakeLLMServer) -> None:
    trigger = await long_conversation(bench)
    fake.script(
        Fault.context_length(),  # the flush's own request is refused
        Reply("A member said the launch code is blue-42."),
        Reply("blue-42"),
    )
    outcome = await bench.run(trigger)

    assert outcome.outcome == "replied"
    assert len(fake.requests) == 3
    assert tools_of(fake, 0) == MEMORY_TOOLS
    assert body(fake, 2)["messages"][1]["content"].startswith("[Summary of the earlier")
    [compaction] = (await activation(bench))["compactions"]
    assert compaction["flush"]["status"] == "failed"
    assert compaction["flush"]["reason"] == "the flush request was too long for the model"
    assert compaction["summary_turn"] > compaction["covers"][1]
    assert "summary" in [t["role"] for t in await session_turns(bench)]


async def test_without_a_tool_to_save_with_the_flush_says_so(
        bench: Bench, fake: FakeLLMServer) -> None:
    trigger = await long_conversation(bench)
    await bench.configure(model={"primary": SMALL_MODEL},
                          tools={"deny": ["group:notes", "group:memory"]})
    fake.script(Reply("A member said the launch code is blue-42."), Reply("blue-42"))
    assert (await bench.run(trigger)).outcome == "replied"
    assert len(fake.requests) == 2  # no flush call: nothing to save with
    [compaction] = (await activation(bench))["compactions"]
    assert compaction["flush"]["status"] == "no_tools"
    assert "no memory tool" in compaction["flush"]["reason"]


async def test_an_agents_reserve_decides_when_it_compacts(
        bench: Bench, fake: FakeLLMServer) -> None:
    await bench.say("first " + "words " * 400)
    await bench.say("second " + "words " * 400)
    trigger = await bench.say("Scout?")
    # The fake model's window is 128,000 tokens: a reserve of 127,000 leaves too little.
    await bench.configure(model={"primary": "openai/fake-gpt"},
                          compaction={"reserve_tokens": 127_000, "max_history_share": 0.1})
    fake.script(Reply("DONE"), Reply("Two messages of words."), Reply("Yes?"))
    assert (await bench.run(trigger)).outcome == "replied"
    assert FLUSH_PROMPT in text_of(fake, 0)
    [compaction] = (await activation(bench))["compactions"]
    assert compaction["flush"]["status"] == "nothing_saved"
    assert compaction["covers"] == [1, 2]


async def test_an_agents_pruning_cuts_old_tool_results_in_the_context_only(
        bench: Bench, fake: FakeLLMServer) -> None:
    await bench.configure(model={"primary": "openai/fake-gpt"}, pruning={
        "keep_last_assistants": 1, "soft_trim_ratio": 0, "hard_clear_ratio": 1,
        "soft_trim_max_chars": 200, "soft_trim_head_chars": 20, "soft_trim_tail_chars": 10})
    long_text = "start " + "x" * 3000 + " end"
    r = await bench.house.member.post(f"/api/agencies/{bench.room_id}/messages",
                                      {"content": f"/save log {long_text}"})
    assert r.json()["ok"], r.json()
    fake.script(Reply(tool_calls=[FakeToolCall("get", {"key": "log"})]), Reply("It is long."))
    await bench.run(await bench.say("Scout, read the log note"))
    whole = f"log: {long_text}"
    # Within its own activation the result is whole: it follows the last assistant turn.
    [fresh] = [m for m in body(fake, 1)["messages"] if m["role"] == "tool"]
    assert fresh["content"] == whole

    fake.script(Reply("Yes."))
    await bench.run(await bench.say("Scout, anything else?"))
    [old] = [m for m in body(fake, 2)["messages"] if m["role"] == "tool"]
    cut = len(whole) - 30
    assert old["content"] == f"{whole[:20]}\n…[{cut} characters trimmed]…\n{whole[-10:]}"
    # The session keeps the result as the model first saw it.
    [kept] = [t for t in await session_turns(bench) if t["role"] == "tool"]
    assert kept["content"] == whole and kept["name"] == "get"


async def test_a_summary_that_fails_is_recorded_and_the_newest_turns_still_fit(
        bench: Bench, fake: FakeLLMServer) -> None:
    trigger = await long_conversation(bench)
    fake.script(Reply("DONE"), Fault.http(400), Reply("I no longer see that far back."))
    assert (await bench.run(trigger)).outcome == "replied"
    [compaction] = (await activation(bench))["compactions"]
    assert compaction["flush"]["status"] == "nothing_saved"
    assert compaction["error"].startswith("the summary failed: ")
    assert "summary_turn" not in compaction
    turns = body(fake, 2)["messages"][1:]
    assert not turns[0]["content"].startswith("[Summary")
    assert turns[-1]["content"].endswith(": Scout, what is the launch code?")
    assert "summary" not in [t["role"] for t in await session_turns(bench)]
