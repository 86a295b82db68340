"""A builtin bot's conversation: the room's recent messages as turns, its own earlier tool
turns where they happened, and a guard that keeps the whole within the model's window."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shoal.llm import ChatMessage, ToolCall
from shoal.rooms.messages import history
from shoal.store.tables import Activation

if TYPE_CHECKING:
    from shoal.runtime.base import ActivationContext
    from shoal.store import Database

CONTEXT_MESSAGES = 50
EARLIER_RUNS = 5  # how many of the bot's previous activations in the room lend tool turns
TURN_OVERHEAD_TOKENS = 4  # role markers and separators every provider adds per turn


@dataclass(frozen=True)
class EarlierRun:
    """The tool turns of one earlier activation, and the messages that place them."""

    activation_id: str
    trigger_id: str | None
    turns: list[ChatMessage]


def turns_to_json(turns: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Tool-call and tool-result turns as plain JSON, for `activation.payload`."""
    out: list[dict[str, Any]] = []
    for t in turns:
        item: dict[str, Any] = {"role": t.role, "content": t.content}
        if t.tool_calls:
            item["tool_calls"] = [{"id": c.id, "name": c.name, "arguments": dict(c.arguments)}
                                  for c in t.tool_calls]
        if t.tool_call_id is not None:
            item["tool_call_id"], item["name"] = t.tool_call_id, t.name
        out.append(item)
    return out


def turns_from_json(raw: object) -> list[ChatMessage]:
    """Turns stored by `turns_to_json`; anything malformed is left out rather than failing."""
    turns: list[ChatMessage] = []
    for item in raw if isinstance(raw, list) else ():
        if not isinstance(item, dict) or item.get("role") not in ("assistant", "tool"):
            continue
        calls = tuple(ToolCall(str(c["id"]), str(c["name"]), dict(c.get("arguments") or {}))
                      for c in item.get("tool_calls") or () if isinstance(c, dict))
        turns.append(ChatMessage(item["role"], str(item.get("content") or ""), calls,
                                 item.get("tool_call_id"), item.get("name")))
    return turns


async def fetch_context(db: Database, ctx: ActivationContext, limit: int = CONTEXT_MESSAGES
                        ) -> tuple[list[dict[str, Any]], list[EarlierRun]]:
    """The room's messages up to the newest input (oldest first) and the bot's earlier runs
    here that used tools. Messages after the trigger are left out: the answer is to it."""
    newest = ctx.inputs[-1] if ctx.inputs else (ctx.trigger or None)
    async with db.read() as session:
        if newest is None:
            views = await history(session, ctx.room, limit=limit)
        else:
            views = await history(session, ctx.room, limit=limit - 1, before=newest["id"])
            views.insert(0, newest)
        rows = (await session.execute(
            select(Activation.id, Activation.trigger_message_id, Activation.payload)
            .where(Activation.bot_id == ctx.bot.id, Activation.room_id == ctx.room.id,
                   Activation.id != ctx.activation.id,
                   # A sub-agent's turns are its own session's, not the room's.
                   Activation.trigger_kind != "subagent")
            .order_by(Activation.created_at.desc()).limit(EARLIER_RUNS)
        )).all()
    views.reverse()
    runs = [EarlierRun(a_id, trigger_id, turns)
            for a_id, trigger_id, payload in rows
            if (turns := turns_from_json((payload or {}).get("tool_turns")))]
    return views, runs


def message_turn(view: Mapping[str, Any], bot_id: str) -> ChatMessage:
    """One message as a turn: the bot's own are assistant turns, the rest say who spoke."""
    if view["sender_id"] == bot_id:
        return ChatMessage("assistant", view["content"])
    if view["sender_type"] == "system":
        return ChatMessage("user", f"{view['sender_display_name']}: {view['content']}")
    return ChatMessage("user", f"@{view['sender_handle'] or view['sender_username']}: "
                               f"{view['content']}")


def build_context(views: Sequence[Mapping[str, Any]], bot_id: str,
                  runs: Sequence[EarlierRun] = ()) -> list[ChatMessage]:
    """Turns oldest first. An earlier run's tool turns go just before the reply it posted,
    or, when it posted none here, just after the message that woke it."""
    by_activation = {r.activation_id: r for r in runs}
    by_trigger = {r.trigger_id: r for r in runs if r.trigger_id}
    replied = {_activation_of(v) for v in views if v["sender_id"] == bot_id and not v["deleted"]}
    turns: list[ChatMessage] = []
    for view in views:
        if view["deleted"]:
            continue
        own_activation = _activation_of(view) if view["sender_id"] == bot_id else None
        run = by_activation.pop(own_activation, None) if own_activation is not None else None
        if run is not None:
            turns.extend(run.turns)
        turns.append(message_turn(view, bot_id))
        run = by_trigger.get(view["id"])
        if run is not None and run.activation_id not in replied:
            turns.extend(run.turns)
    return turns


def _activation_of(view: Mapping[str, Any]) -> str | None:
    return (view["metadata"] or {}).get("activation_id")


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


def compact(turns: list[ChatMessage]) -> list[ChatMessage]:
    """The newer half of the turns, after the model said the whole did not fit."""
    return start_at_user(turns[len(turns) // 2:])
