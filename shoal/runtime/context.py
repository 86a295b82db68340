"""A builtin bot's turns: a room message as a turn, turn sizes, and a guard that keeps a
context within the model's window. The context itself is built from the agent's session
(`shoal.runtime.sessions`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoal.llm import ChatMessage

TURN_OVERHEAD_TOKENS = 4  # role markers and separators every provider adds per turn


def message_turn(view: Mapping[str, Any], bot_id: str) -> ChatMessage:
    """One message as a turn: the bot's own are assistant turns, the rest say who spoke."""
    if view["sender_id"] == bot_id:
        return ChatMessage("assistant", view["content"])
    if view["sender_type"] == "system":
        return ChatMessage("user", f"{view['sender_display_name']}: {view['content']}")
    return ChatMessage("user", f"@{view['sender_handle'] or view['sender_username']}: "
                               f"{view['content']}")


def estimate_tokens(text: str) -> int:
    """A provider-neutral estimate: about four characters a token."""
    return len(text) // 4 + 1


def turn_tokens(turn: ChatMessage) -> int:
    """A turn's estimated size, tool calls included."""
    size = len(turn.content) + sum(len(c.name) + len(str(c.arguments)) for c in turn.tool_calls)
    return size // 4 + TURN_OVERHEAD_TOKENS


def start_at_user(turns: list[ChatMessage]) -> list[ChatMessage]:
    """Drop leading turns until a user turn: a conversation may not open with the bot, nor
    with a tool result whose call was cut away."""
    for index, turn in enumerate(turns):
        if turn.role == "user":
            return turns[index:]
    return []


def guard_context(turns: list[ChatMessage], budget_tokens: int) -> list[ChatMessage]:
    """The newest turns that fit the budget; the newest one always stays."""
    sizes = [turn_tokens(t) for t in turns]
    total, first = sum(sizes), 0
    while total > budget_tokens and first < len(turns) - 1:
        total -= sizes[first]
        first += 1
    return start_at_user(turns[first:])
