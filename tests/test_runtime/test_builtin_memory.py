"""A builtin agent on the fake provider remembers with the memory tools: it saves a note in one
turn and finds it (and the room's history) with memory_search in a later one; its prompt tells
it when to search."""

from __future__ import annotations

from shoal.llm.fakeserver import FakeLLMServer, FakeToolCall, Reply
from tests.test_runtime.conftest import FAKE_MODEL, Bench


def tool_results(fake: FakeLLMServer, index: int) -> list[str]:
    return [m["content"] for m in fake.requests[index].body["messages"] if m["role"] == "tool"]


async def test_an_agent_saves_a_note_and_finds_it_later(bench: Bench,
                                                       fake: FakeLLMServer) -> None:
    await bench.configure(model={"primary": FAKE_MODEL})
    fake.script(Reply(tool_calls=[FakeToolCall("memory_save", {
                    "text": "The launch password is heron-77", "tags": ["launch"]})]),
                Reply("Noted."))
    await bench.run(await bench.say("Scout, remember: the launch password is heron-77"))
    assert tool_results(fake, 1)[0].startswith("Saved note ")
    system = fake.requests[0].body["messages"][0]["content"]
    assert "## Memory Recall" in system and "memory_search" in system

    fake.reset()
    fake.script(Reply(tool_calls=[FakeToolCall("memory_search", {"query": "launch password"})]),
                Reply("It is heron-77."))
    trigger = await bench.say("Scout, what was the launch password?")
    outcome = await bench.run(trigger)
    assert outcome.outcome == "replied"
    found = tool_results(fake, 1)[-1]  # earlier activations' tool turns come first
    lines = found.splitlines()
    # The note, and the message it came from.
    assert any(line.startswith("- note ") and "The launch password is heron-77" in line
               for line in lines)
    assert any(line.startswith("- message in #") and "remember: the launch password" in line
               for line in lines)
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["content"] == "It is heron-77."
