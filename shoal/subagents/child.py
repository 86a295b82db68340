"""What a child sees, and what its parent hears: the child's isolated context (its task
alone, never the room's history), the sub-agent sections of its minimal prompt, and the
turns that hand a child's end to its parent as a tool result.

Kept apart from the runtime so that other kinds of session (memory, crews) can build on the
same pieces."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from shoal.llm import ChatMessage, ToolCall
from shoal.subagents.lifecycle import RESULT, SUBAGENT, result_text
from shoal.subagents.tables import LIVE_STATES, Subagent

if TYPE_CHECKING:
    from shoal.store import Database
    from shoal.store.tables import Activation, Room, User

RESULT_TOOL = "sessions_wait"  # the call the parent's follow-up turn is shown as answering


async def subagent_of(db: Database, activation: Activation) -> Subagent | None:
    """The child an activation runs (kind `subagent`) or announces (kind
    `subagent_result`), as stored now; None for any other activation."""
    if activation.trigger_kind not in (SUBAGENT, RESULT):
        return None
    sub_id = (activation.payload or {}).get("subagent_id")
    if not sub_id:
        return None
    async with db.read() as session:
        return await session.get(Subagent, sub_id, populate_existing=True)


async def still_live(db: Database, sub_id: str) -> bool:
    """Whether the child has not been ended (killed) by someone else meanwhile."""
    async with db.read() as session:
        state = await session.scalar(select(Subagent.state).where(Subagent.id == sub_id))
    return state in LIVE_STATES


def child_turns(sub: Subagent) -> list[ChatMessage]:
    """The child's whole conversation at its start: its task."""
    return [ChatMessage("user", sub.task)]


def child_prompt_sections(sub: Subagent, parent: User | None, room: Room) -> str:
    """The sections that tell a child what it is (added to its minimal prompt)."""
    requester = f"@{parent.username}" if parent is not None else "-"
    parent_session = (f"activation:{sub.parent_activation_id}" if sub.parent_activation_id
                      else f"agent:{sub.parent_bot_id}")
    return "\n\n".join([
        "# Sub-agent context\nYou are a sub-agent: another agent spawned you to do one task. "
        "You are not that agent and do not speak for it.",
        f"## Your role\n- Your task: {sub.task}\n- Doing this task is all you are for.\n"
        "- You may be ended once it is done; that is expected.",
        "## Rules\n1. Stay on the task; nothing else.\n2. Finish it: your final answer goes "
        "back to the agent that spawned you, automatically.\n3. Start nothing on your own: no "
        "schedules, no check-ins, no side quests.\n4. Keep no state: you will not be asked "
        "again.",
        "## Output format\nYour final answer should say what you did or found, the details "
        "the requesting agent needs, briefly but completely.",
        "## What you do not do\n- No conversation with people in the room; that is the "
        "requesting agent's job.\n- No messages elsewhere unless the task says so.\n- No "
        "schedules, no spawning other sub-agents, no lasting changes unless the task asks "
        "for them.\n- Never present yourself as the requesting agent.",
        f"## Session context\n- Label: {sub.label or '-'}\n- Requester: {requester} "
        f"({parent_session})\n- Room: #{room.slug}\n- Your session: {sub.session_key}",
    ])


async def result_turns(db: Database, sub: Subagent) -> list[ChatMessage]:
    """The parent's follow-up turn: a `sessions_wait` call on the child and its result,
    with where its siblings stand, so the parent can act on it as on any tool result."""
    async with db.read() as session:
        siblings = list((await session.scalars(select(Subagent).where(
            Subagent.parent_activation_id == sub.parent_activation_id,
            Subagent.id != sub.id).order_by(Subagent.created_at))).all()) \
            if sub.parent_activation_id else []
    text = result_text(sub)
    waiting = [s for s in siblings if s.live]
    if waiting:
        names = ", ".join(f"{s.id}" + (f" ({s.label})" if s.label else "") for s in waiting)
        text += (f"\n\nStill running: {len(waiting)} other sub-agent(s) you spawned: {names}. "
                 "Their results will come to you as they end.")
    elif siblings:
        text += "\n\nEvery other sub-agent you spawned for this has ended."
    ended = [s for s in siblings if not s.live]
    if ended:  # told before, one by one; together here so an answer can use them all
        text += "\n\nThe ones that ended before:\n" + "\n".join(
            "- " + " ".join(result_text(s).split()) for s in ended)
    call = ToolCall(f"subagent-{sub.id}", RESULT_TOOL, {"id": sub.id})
    return [ChatMessage("user", f"(a sub-agent you spawned ended: {sub.id})"),
            ChatMessage("assistant", "", (call,)),
            ChatMessage("tool", text, tool_call_id=call.id, name=RESULT_TOOL)]
