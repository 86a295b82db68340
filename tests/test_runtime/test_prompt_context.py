"""The system prompt's sections and the context's turns, built without a server."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shoal.agents.config import BotConfig
from shoal.commands.builtins import register_builtins
from shoal.commands.registry import CommandRegistry
from shoal.llm import NO_REPLY, Catalog, ChatMessage, LLMConfig, ToolCall
from shoal.rooms.house_settings import updated_settings
from shoal.runtime.context import guard_context, message_turn, turn_tokens
from shoal.runtime.prompt import build_system_prompt
from shoal.runtime.sessions import well_formed
from shoal.schedules.commands import register_schedule_commands
from shoal.store.tables import House, Room, User
from shoal.tools.commands import tool_spec

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
