"""The offline model: honest, deterministic, word by word, and able to use tools."""

from __future__ import annotations

from shoal.llm import (
    CHECK_IN_PROMPT,
    NO_REPLY,
    OFFLINE_NOTICE,
    ChatMessage,
    ChatRequest,
    ModelRouter,
    TextDelta,
    ToolCall,
    ToolSpec,
    build_relevance_request,
    is_silent,
    parse_relevance_answer,
)

ROUTER = ModelRouter()
TOOLS = [
    ToolSpec("notes", "List notes", {"type": "object", "properties": {"args": {"type": "string"}}}),
    ToolSpec("weather", "Weather", {"type": "object", "properties": {"city": {"type": "string"}}}),
]


async def test_says_plainly_it_is_not_a_real_model_and_streams_words() -> None:
    req = ChatRequest([ChatMessage("user", "What is the capital of France?")])
    events = [e async for e in ROUTER.stream(req, ["offline"])]
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    text = "".join(deltas)
    assert text.startswith(OFFLINE_NOTICE) and "not a real language model" in text
    assert all(len(d.split()) == 1 for d in deltas) and len(deltas) > 5
    again = await ROUTER.complete(req, ["offline"])
    assert again.text == text  # deterministic


async def test_calls_a_named_slash_command_then_summarizes_its_result() -> None:
    history = [ChatMessage("user", "Can you check this for me?\n/notes roadmap")]
    first = await ROUTER.complete(ChatRequest(history, tools=TOOLS), ["offline"])
    assert first.finish_reason == "tool_use" and first.text == ""
    [call] = first.tool_calls
    assert (call.name, call.arguments) == ("notes", {"args": "roadmap"})
    history += [
        ChatMessage("assistant", tool_calls=(call,)),
        ChatMessage("tool", "roadmap: ship the beta on Friday", tool_call_id=call.id),
    ]
    second = await ROUTER.complete(ChatRequest(history, tools=TOOLS), ["offline"])
    assert second.finish_reason == "stop" and not second.tool_calls
    assert "/notes command returned: roadmap: ship the beta on Friday" in second.text
    assert second.text.startswith(OFFLINE_NOTICE)


async def test_argument_goes_to_the_single_string_parameter_and_unknown_commands_are_ignored() -> (
    None
):
    answer = await ROUTER.complete(
        ChatRequest([ChatMessage("user", "/weather Lisbon")], tools=TOOLS), ["offline"]
    )
    assert answer.tool_calls == [ToolCall(answer.tool_calls[0].id, "weather", {"city": "Lisbon"})]
    plain = await ROUTER.complete(
        ChatRequest([ChatMessage("user", "/deploy now")], tools=TOOLS), ["offline"]
    )
    assert not plain.tool_calls and plain.text.startswith(OFFLINE_NOTICE)


async def test_answers_relevance_by_keyword_overlap() -> None:
    profile = "You are Archive Bot. You keep the team's meeting minutes and decisions."
    yes = await ROUTER.complete(
        build_relevance_request(profile, "Where are the minutes of Monday's meeting?"), ["offline"]
    )
    no = await ROUTER.complete(
        build_relevance_request(profile, "Anyone up for lunch tacos?"), ["offline"]
    )
    assert (yes.text, no.text) == ("YES", "NO")
    assert parse_relevance_answer(yes.text) and not parse_relevance_answer(no.text)


async def test_check_in_with_nothing_to_report_is_silent() -> None:
    answer = await ROUTER.complete(ChatRequest([ChatMessage("user", CHECK_IN_PROMPT)]), ["offline"])
    assert answer.text == NO_REPLY and is_silent(answer.text)


async def test_fills_command_arguments_word_by_word_and_the_rest_at_the_end() -> None:
    one = {"type": "string", "description": "<x>: one value"}
    rest = {"type": "string", "description": "<x>: the rest of the text, as written"}
    tools = [ToolSpec("roll", "Roll dice", {"type": "object", "properties": {"dice": one}}),
             ToolSpec("save", "Save", {"type": "object",
                                        "properties": {"key": one, "value": rest}})]
    roll = await ROUTER.complete(ChatRequest([ChatMessage("user", "/roll 2d6 please")],
                                             tools=tools), ["offline"])
    assert roll.tool_calls[0].arguments == {"dice": "2d6"}
    save = await ROUTER.complete(ChatRequest(
        [ChatMessage("user", "/save deploy-day Thursday after standup")], tools=tools),
        ["offline"])
    assert save.tool_calls[0].arguments == {"key": "deploy-day",
                                            "value": "Thursday after standup"}


async def test_never_mentions_anyone_it_quotes() -> None:
    answer = await ROUTER.complete(
        ChatRequest([ChatMessage("user", "@alice: @bob and @carol, look")]), ["offline"])
    assert "@" not in answer.text and "bob and carol" in answer.text
