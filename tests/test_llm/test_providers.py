"""Each provider adapter, through its real SDK client, against the fake provider over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.llm import (
    AttemptStarted,
    ChatMessage,
    ChatRequest,
    Finish,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
)
from shoal.llm.fakeserver import FakeLLMServer, FakeToolCall, Reply

from .conftest import WIRES

NOTES_TOOL = ToolSpec(
    "notes",
    "Read the room's notes.",
    {"type": "object", "properties": {"args": {"type": "string"}}},
)
pytestmark = pytest.mark.parametrize("wire", sorted(WIRES))


def request(stream: bool = True, **kwargs: Any) -> ChatRequest:
    return ChatRequest(
        messages=[ChatMessage("user", "What do the notes say?")],
        system="You are a careful archivist.",
        tools=[NOTES_TOOL],
        stream=stream,
        max_tokens=77,
        **kwargs,
    )


@pytest.mark.parametrize("stream", [True, False])
async def test_text_usage_and_finish(
    wire: str, stream: bool, fake: FakeLLMServer, make_router: Any
) -> None:
    fake.script(Reply("The notes say hello to everyone", input_tokens=12, output_tokens=6))
    events = [e async for e in make_router().stream(request(stream), [WIRES[wire]])]
    assert isinstance(events[0], AttemptStarted) and events[0].model == WIRES[wire]
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert "".join(deltas) == "The notes say hello to everyone"
    assert len(deltas) == (6 if stream else 1)  # streamed word by word, or whole
    assert Usage(12, 6) in events
    assert events[-1] == Finish("stop")
    sent = fake.requests[-1]
    assert (sent.wire, sent.stream) == (wire, stream)
    assert sent.model == WIRES[wire].partition("/")[2]


@pytest.mark.parametrize("stream", [True, False])
async def test_tool_call_arguments_are_parsed(
    wire: str, stream: bool, fake: FakeLLMServer, make_router: Any
) -> None:
    args = {"args": "get roadmap", "limit": 3, "nested": {"ok": True}}
    fake.script(Reply("", tool_calls=[FakeToolCall("notes", args, id="c1")]))
    events = [e async for e in make_router().stream(request(stream), [WIRES[wire]])]
    calls = [e.call for e in events if isinstance(e, ToolCallEvent)]
    assert calls == [ToolCall("c1", "notes", args)]
    assert events[-1] == Finish("tool_use")


async def test_length_finish(wire: str, fake: FakeLLMServer, make_router: Any) -> None:
    fake.script(Reply("cut short", finish="length"))
    events = [e async for e in make_router().stream(request(), [WIRES[wire]])]
    assert events[-1] == Finish("length")


async def test_request_carries_system_tools_limits_and_history(
    wire: str, fake: FakeLLMServer, make_router: Any
) -> None:
    history = [
        ChatMessage("user", "Check the notes with /notes roadmap"),
        ChatMessage("assistant", "", tool_calls=(ToolCall("c9", "notes", {"args": "roadmap"}),)),
        ChatMessage("tool", "roadmap: ship v1", tool_call_id="c9", name="notes"),
    ]
    req = ChatRequest(
        history, system="Be brief.", tools=[NOTES_TOOL], max_tokens=55, temperature=0.2
    )
    await make_router().complete(req, [WIRES[wire]])
    body = str(fake.requests[-1].body)
    for expected in (
        "Be brief.",
        "notes",
        "roadmap: ship v1",
        "c9" if wire != "gemini" else "roadmap",
        "55",
    ):
        assert expected in body
    assert (
        fake.requests[-1].api_key
        == {"openai": "ok-openai", "anthropic": "ok-anthropic", "gemini": "ok-gemini"}[wire]
    )
