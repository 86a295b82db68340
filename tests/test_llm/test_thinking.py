"""Each thinking level reaches each provider's SDK in its own form: OpenAI's reasoning effort,
Anthropic's and Gemini's thinking budgets; a model without reasoning ignores it, with a note."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shoal.llm import (
    ChatMessage,
    ChatRequest,
    KeyRing,
    ModelConfig,
    ModelRouter,
    ProfileBook,
    ToolCall,
)
from shoal.llm.fakeserver import FakeLLMServer, Reply
from shoal.llm.thinking import BUDGETS

from .conftest import WIRES, fake_catalog

KEYS = {"OPENAI_API_KEY": "k", "ANTHROPIC_API_KEY": "k", "GEMINI_API_KEY": "k"}


def router(fake: FakeLLMServer, clock: Any, reasoning: bool) -> ModelRouter:
    models = {ref: ModelConfig(reasoning=reasoning) for ref in WIRES.values()}
    return ModelRouter(fake_catalog(fake, **models), KeyRing(env=KEYS), ProfileBook(clock))


def request(thinking: str | None) -> ChatRequest:
    return ChatRequest([ChatMessage("user", "why?")], max_tokens=500, thinking=thinking)


@pytest.mark.parametrize("wire", sorted(WIRES))
@pytest.mark.parametrize("level", ["low", "medium", "high"])
async def test_each_level_in_each_providers_form(wire: str, level: str, fake: FakeLLMServer,
                                                 clock: Any) -> None:
    fake.script(Reply("because"))
    answer = await router(fake, clock, True).complete(request(level), [WIRES[wire]])
    assert answer.text == "because"
    body = fake.requests[-1].body
    if wire == "openai":
        assert body["reasoning_effort"] == level
    elif wire == "anthropic":
        assert body["thinking"] == {"type": "enabled", "budget_tokens": BUDGETS[level]}
        assert body["max_tokens"] == 500 + BUDGETS[level]  # the answer keeps its 500
    else:
        # As google-genai sends it (it keeps these two keys in snake case on the wire).
        assert body["generationConfig"]["thinkingConfig"] == {
            "thinking_budget": BUDGETS[level], "include_thoughts": True}


@pytest.mark.parametrize("wire", sorted(WIRES))
async def test_off_and_models_without_reasoning_send_nothing(
        wire: str, fake: FakeLLMServer, clock: Any, caplog: pytest.LogCaptureFixture) -> None:
    fake.script(Reply("a"), Reply("b"))
    await router(fake, clock, True).complete(request("off"), [WIRES[wire]])
    with caplog.at_level(logging.INFO, logger="shoal.llm"):
        await router(fake, clock, False).complete(request("high"), [WIRES[wire]])
    for sent in fake.requests[-2:]:
        text = str(sent.body)
        assert "reasoning_effort" not in text and "thinking" not in text.lower()
    assert f"{WIRES[wire]} has no reasoning level to set; thinking high is ignored" in caplog.text


@pytest.mark.parametrize("wire", sorted(WIRES))
@pytest.mark.parametrize("stream", [True, False])
async def test_a_models_reasoning_comes_apart_from_its_answer(
        wire: str, stream: bool, fake: FakeLLMServer, clock: Any) -> None:
    fake.script(Reply("It is four.", reasoning="Two and two make four."))
    asked = ChatRequest([ChatMessage("user", "2+2?")], stream=stream, thinking="low")
    answer = await router(fake, clock, True).complete(asked, [WIRES[wire]])
    assert answer.text == "It is four."
    assert answer.reasoning == "Two and two make four."
    if wire == "anthropic":
        assert answer.reasoning_signature == "fake-signature"


async def test_anthropic_gets_its_thinking_block_back_with_the_tool_call(
        fake: FakeLLMServer, clock: Any) -> None:
    fake.script(Reply("done"))
    turns = [ChatMessage("user", "save it"),
             ChatMessage("assistant", "", (ToolCall("t1", "save", {"k": "v"}),),
                         reasoning="I should save.", reasoning_signature="sig-1"),
             ChatMessage("tool", "saved", tool_call_id="t1", name="save")]
    await router(fake, clock, True).complete(ChatRequest(turns, thinking="low"),
                                             [WIRES["anthropic"]])
    assistant = fake.requests[-1].body["messages"][1]
    assert assistant["content"][0] == {"type": "thinking", "thinking": "I should save.",
                                       "signature": "sig-1"}
    assert assistant["content"][1]["type"] == "tool_use"
