"""The system prompt's sections and the context's turns, built without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shoal.agents.config import BotConfig
from shoal.commands.builtins import register_builtins
from shoal.commands.registry import CommandRegistry
from shoal.config import PruningSettings
from shoal.llm import NO_REPLY, Catalog, ChatMessage, LLMConfig, ToolCall, ToolSpec
from shoal.rooms.house_settings import updated_settings
from shoal.runtime.compaction import flush_tools, prune, split_turns
from shoal.runtime.context import guard_context, message_turn, turn_tokens
from shoal.runtime.prompt import build_system_prompt
from shoal.runtime.sessions import StoredTurn, well_formed
from shoal.schedules.commands import register_schedule_commands
from shoal.store.tables import House, Room, User
from shoal.tools.base import Tool
from shoal.tools.commands import tool_spec
from shoal.tools.policy import decide
from shoal.tools.registry import Toolbox

HOUSE = House(name="Acme", description="Acme builds rockets. Be precise.")
BOT = User(id="bot-1", username="scout", display_name="Scout")
ROOM = Room(slug="launch")
NOW = datetime(2025, 3, 4, 5, 6, tzinfo=UTC)
REGISTRY = CommandRegistry()
register_builtins(REGISTRY)
register_schedule_commands(REGISTRY)
TOOLS = [tool_spec(c) for c in REGISTRY.all()]


def view(seq: int, content: str, sender: str = "alice", **extra: Any) -> dict[str, Any]:
    """A message as the wire shows it, from a person unless told otherwise."""
    return {"id": f"m{seq}", "seq": seq, "content": content, "sender_id": f"id-{sender}",
            "sender_username": sender, "sender_handle": sender, "sender_display_name": sender,
            "sender_type": "user", "metadata": {}, "deleted": False, **extra}


def test_sections_come_in_order_with_the_house_first() -> None:
    config = BotConfig(system_prompt="You are Scout, the launch checklist keeper.")
    prompt = build_system_prompt(HOUSE, BOT, config, TOOLS, room=ROOM,
                                 model="openai/gpt-5-mini", now=NOW)
    markers = ["Acme builds rockets.", "You are Scout, the launch checklist keeper.",
               "## Tooling", "- save: Save a note for this room under a key. Usage: /save <key> "
               "<value...>", "## Current time\nTuesday 2025-03-04 05:06 UTC",
               "## Silent replies", f"exactly {NO_REPLY}", "## Heartbeats",
               "## Runtime\nagent=@scout | room=#launch | model=openai/gpt-5-mini"]
    positions = [prompt.index(m) for m in markers]
    assert positions == sorted(positions)


def test_the_current_time_is_shown_in_the_houses_time_zone() -> None:
    # The settings as the settings API stores them (see test_house_settings_effect for the
    # same through a live server).
    catalog = Catalog(LLMConfig.parse({}))
    house = House(name="Acme", description="",
                  settings=updated_settings({}, {"timezone": "Asia/Kolkata"}, catalog))
    prompt = build_system_prompt(house, BOT, BotConfig(), [], now=NOW)
    assert "## Current time\nTuesday 2025-03-04 10:36 Asia/Kolkata (UTC+05:30)\n" in prompt
    house.settings = updated_settings(house.settings, {"timezone": "America/Los_Angeles"},
                                      catalog)
    prompt = build_system_prompt(house, BOT, BotConfig(), [], now=NOW)
    assert "## Current time\nMonday 2025-03-03 21:06 America/Los_Angeles (UTC-08:00)\n" in prompt


def test_minimal_and_none_modes_leave_sections_out() -> None:
    config = BotConfig(description="Keeps the launch checklist.")
    minimal = build_system_prompt(HOUSE, BOT, config, TOOLS, mode="minimal", now=NOW)
    assert minimal.startswith("You are Scout (@scout)") and "Keeps the launch checklist." in minimal
    assert "Acme builds rockets" not in minimal and "Usage:" not in minimal
    assert "save" in minimal and NO_REPLY not in minimal and "## Runtime" in minimal
    none = build_system_prompt(HOUSE, BOT, config, TOOLS, mode="none", now=NOW)
    assert none == minimal.split("\n\n")[0]


def test_a_command_becomes_a_tool_with_its_argument_spec() -> None:
    save = next(t for t in TOOLS if t.name == "save")
    assert save.parameters == {
        "type": "object", "required": ["key", "value"],
        "properties": {"key": {"type": "string", "description": "<key>: one value"},
                       "value": {"type": "string",
                                 "description": "<value>: the rest of the text, as written"}}}
    help_tool = next(t for t in TOOLS if t.name == "help")
    assert "required" not in help_tool.parameters


def turns_of(views: list[dict[str, Any]]) -> list[ChatMessage]:
    """The turns a session takes in from these messages (deleted ones are left out)."""
    return [message_turn(v, "bot-1") for v in views if not v["deleted"]]


def test_own_messages_are_assistant_turns_and_others_say_who_spoke() -> None:
    views = [view(1, "hi @scout"), view(2, "Hello!", "scout", sender_id="bot-1"),
             view(3, "oops", deleted=True),
             view(4, "Build passed", "system", sender_type="system", sender_handle=None,
                  sender_display_name="CI hook"),
             view(5, "thanks", "bob")]
    assert turns_of(views) == [
        ChatMessage("user", "@alice: hi @scout"), ChatMessage("assistant", "Hello!"),
        ChatMessage("user", "CI hook: Build passed"), ChatMessage("user", "@bob: thanks")]


def test_tool_calls_reach_the_model_only_with_their_results_and_declared_tools() -> None:
    call = ToolCall("c1", "notes", {})
    used = [ChatMessage("assistant", "", (call,)),
            ChatMessage("tool", "Notes: plan", tool_call_id="c1", name="notes")]
    unanswered = ChatMessage("assistant", "let me roll", (ToolCall("c2", "roll", {}),))
    orphan = ChatMessage("tool", "4", tool_call_id="c9", name="roll")
    turns = [ChatMessage("user", "what notes?"), *used, ChatMessage("assistant", "A plan."),
             ChatMessage("user", "roll"), unanswered, orphan, ChatMessage("user", "well?")]
    assert well_formed(turns, with_tools=True) == [
        turns[0], *used, turns[3], turns[4], ChatMessage("assistant", "let me roll"),
        turns[-1]]
    # Without tools to declare, no tool turn at all; an assistant's words stay.
    assert well_formed(turns, with_tools=False) == [
        turns[0], turns[3], turns[4], ChatMessage("assistant", "let me roll"), turns[-1]]


def test_the_guard_drops_the_oldest_turns_and_starts_with_a_user_turn() -> None:
    turns = [ChatMessage("user", "a" * 400), ChatMessage("assistant", "b" * 400),
             ChatMessage("user", "c" * 400), ChatMessage("assistant", "d" * 40),
             ChatMessage("user", "e" * 40)]
    budget = sum(turn_tokens(t) for t in turns[1:])
    assert guard_context(turns, budget) == turns[2:]
    assert guard_context(turns, 10**6) == turns
    assert guard_context(turns, 1) == turns[-1:]


def test_fifty_messages_make_fifty_turns_in_order_under_one_prompt() -> None:
    # How long this takes is measured by bench/dispatch.py ("prompt + context"), not here.
    views = [view(i, f"message {i} about the launch window",
                  "scout" if i % 3 == 0 else "alice",
                  sender_id="bot-1" if i % 3 == 0 else "id-alice") for i in range(1, 51)]
    config = BotConfig(system_prompt="You are Scout.")
    prompt = build_system_prompt(HOUSE, BOT, config, TOOLS, room=ROOM, model="m")
    turns = guard_context(turns_of(views), 100_000)
    assert prompt.count("You are Scout.") == 1
    assert [(t.role, t.content) for t in turns] == [
        ("assistant", f"message {i} about the launch window") if i % 3 == 0
        else ("user", f"@alice: message {i} about the launch window") for i in range(1, 51)]


def tool_exchange(n: int, result: str) -> list[ChatMessage]:
    call = ToolCall(f"c{n}", "get", {"key": "log"})
    return [ChatMessage("user", f"question {n}"), ChatMessage("assistant", "", (call,)),
            ChatMessage("tool", result, tool_call_id=f"c{n}", name="get"),
            ChatMessage("assistant", f"answer {n}")]


def test_pruning_trims_then_clears_old_tool_results_and_keeps_recent_ones() -> None:
    big = "H" * 100 + "m" * 5000 + "T" * 100
    turns = tool_exchange(1, big) + tool_exchange(2, big) + tool_exchange(3, big)
    window = sum(turn_tokens(t) for t in turns) * 2  # the context fills half the window
    soft = PruningSettings(keep_last_assistants=2, soft_trim_ratio=0.4, hard_clear_ratio=0.9,
                           soft_trim_max_chars=1000, soft_trim_head_chars=100,
                           soft_trim_tail_chars=100)
    pruned = prune(turns, window, soft)
    # The results before the last two assistant turns are cut to head and tail...
    for i in (2, 6):
        assert pruned[i].content == "H" * 100 + "\n…[5000 characters trimmed]…\n" + "T" * 100
        assert pruned[i].tool_call_id == turns[i].tool_call_id
    # ...the newest stays whole, and nothing else changes.
    assert pruned[10] == turns[10]
    assert [t for i, t in enumerate(pruned) if i not in (2, 6)] == [
        t for i, t in enumerate(turns) if i not in (2, 6)]
    # Under the soft ratio nothing is touched; disabled, nothing either.
    assert prune(turns, window * 10, soft) == turns
    assert prune(turns, window, soft.model_copy(update={"enabled": False})) == turns

    hard = soft.model_copy(update={"soft_trim_ratio": 1.0, "hard_clear_ratio": 0.4})
    cleared = prune(turns, window, hard)
    # Oldest first, until the context is under the ratio: one placeholder is enough here.
    assert cleared[2].content == "[old tool result cleared]"
    assert cleared[6] == turns[6] and cleared[10] == turns[10]
    both = prune(turns, window, hard.model_copy(update={"hard_clear_ratio": 0.01}))
    assert [both[i].content for i in (2, 6, 10)] == [
        "[old tool result cleared]", "[old tool result cleared]", big]


def test_compaction_keeps_the_newest_turns_from_a_user_turn_and_never_splits_a_call() -> None:
    exchange = tool_exchange(1, "r" * 400)
    stored = [StoredTurn(i + 1, t.role, t, turn_tokens(t)) for i, t in enumerate(
        [ChatMessage("user", "a" * 400), ChatMessage("assistant", "b" * 400), *exchange,
         ChatMessage("user", "last")])]
    summary, old, kept = split_turns(stored, keep_tokens=10)
    assert summary is None and [t.index for t in kept] == [7]
    assert [t.index for t in old] == [1, 2, 3, 4, 5, 6]
    # A budget that holds the tool exchange keeps it whole, from its user turn.
    size = sum(t.tokens for t in stored[2:])
    summary, old, kept = split_turns(stored, keep_tokens=size)
    assert [t.index for t in kept] == [3, 4, 5, 6, 7] and [t.index for t in old] == [1, 2]
    # A summary in force is handed back apart from the turns.
    folded = StoredTurn(8, "summary", ChatMessage("user", "so far"), 5, covers_from=1,
                        covers_to=2)
    summary, old, kept = split_turns([folded, *stored[2:]], keep_tokens=10)
    assert summary == folded and [t.index for t in old] == [3, 4, 5, 6]


def test_memory_recall_is_asked_for_only_where_memory_search_is_offered() -> None:
    search = ToolSpec("memory_search", "Search the agent's memory.")
    prompt = build_system_prompt(HOUSE, BOT, BotConfig(), [*TOOLS, search], room=ROOM, now=NOW)
    assert "## Memory Recall\nBefore answering anything about earlier work" in prompt
    assert prompt.index("## Tooling") < prompt.index("## Memory Recall") < prompt.index(
        "## Current time")
    assert "## Memory Recall" not in build_system_prompt(HOUSE, BOT, BotConfig(), TOOLS,
                                                         now=NOW)
    assert "## Memory Recall" not in build_system_prompt(HOUSE, BOT, BotConfig(), [search],
                                                         mode="minimal", now=NOW)


def test_the_flush_is_offered_the_memory_tools_else_the_save_note() -> None:
    async def run(arguments: dict[str, Any]) -> str:
        return "ok"

    def tool(name: str, *groups: str) -> Tool:
        return Tool(name, name, {"type": "object", "properties": {}}, groups, run)

    notes = [tool("save", "commands", "notes"), tool("clearnote", "commands", "notes"),
             tool("web_fetch", "web")]
    memory = [tool("memory_save", "memory"), tool("memory_search", "memory"),
              tool("memory_forget", "memory")]
    names = [t.name for t in flush_tools(Toolbox([decide(t, []) for t in notes + memory], {}))]
    assert names == ["memory_save", "memory_search"]
    names = [t.name for t in flush_tools(Toolbox([decide(t, []) for t in notes], {}))]
    assert names == ["save"]
    assert flush_tools(Toolbox([decide(notes[2], [])], {})) == []
