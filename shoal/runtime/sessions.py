"""An agent's sessions: the turns the model saw, kept in order, and the context built from
them (the newest compaction summary first, then every turn since).

A session is keyed per agent: `room:<room id>` (its working memory in a room), `cron:<job id>`
(one per cron job) and `subagent:<id>` (one per sub-agent). A room session takes in the room's
new messages as user turns each time the agent wakes (its own replies are already there as
assistant turns); a cron or sub-agent session only when asked to.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from shoal.errors import InvalidInput
from shoal.llm import ChatMessage, ToolCall
from shoal.memory.search import Hit
from shoal.rooms.messages import MAX_HISTORY, history
from shoal.runtime.context import message_turn, turn_tokens
from shoal.runtime.session_tables import AgentSession, SessionTurn
from shoal.store.tables import Room, iso, utcnow

if TYPE_CHECKING:
    from shoal.store import Database

KINDS = ("room", "cron", "subagent")
CONTEXT_MESSAGES = 50  # a new room session starts from the room's last 50 messages
SYNC_LIMIT = MAX_HISTORY  # at most this many new room messages (the newest) come in at a wake
MAX_KEY_CHARS = 120
# A session turn holds every word searched for: memory_search ranks it as a good match.
SESSION_SCORE = 0.5


def session_key(kind: str, ref: str) -> str:
    """The key of a session: `room:<room id>`, `cron:<job id>` or `subagent:<id>`."""
    if kind not in KINDS:
        raise InvalidInput(f"a session kind is one of {', '.join(KINDS)}, not {kind!r}")
    if not ref or len(ref) > MAX_KEY_CHARS - len(kind) - 1 or ":" in ref:
        raise InvalidInput(f"a {kind} session needs an id without ':' (at most "
                           f"{MAX_KEY_CHARS - len(kind) - 1} characters)")
    return f"{kind}:{ref}"


def parse_session_key(key: str) -> tuple[str, str]:
    """The kind and id of a session key; InvalidInput says what a key looks like."""
    kind, _, ref = key.partition(":")
    try:
        session_key(kind, ref)
    except InvalidInput:
        raise InvalidInput(f"{key!r} is not a session key; keys are room:<room id>, "
                           "cron:<job id> or subagent:<id>") from None
    return kind, ref


@dataclass(frozen=True)
class StoredTurn:
    """One turn of a session as it is kept, with its number and the turn the model sees."""

    index: int
    role: str  # user, assistant, tool, summary
    message: ChatMessage
    tokens: int
    message_id: str | None = None
    covers_from: int | None = None
    covers_to: int | None = None


def _stored(row: SessionTurn) -> StoredTurn:
    calls = tuple(ToolCall(str(c.get("id")), str(c.get("name")), dict(c.get("arguments") or {}))
                  for c in row.tool_calls or ())
    role = "user" if row.role == "summary" else row.role
    return StoredTurn(row.index, row.role,
                      ChatMessage(role, row.content, calls, row.tool_call_id, row.name),  # type: ignore[arg-type]
                      row.tokens, row.message_id, row.covers_from, row.covers_to)


async def open_session(db: Database, bot_id: str, house_id: str, room_id: str, key: str
                       ) -> AgentSession:
    """The agent's session under this key, made on first use. A sub-agent's spawner calls
    this with `session_key("subagent", <id>)` and the room it reports to."""
    kind, _ = parse_session_key(key)
    query = select(AgentSession).where(AgentSession.bot_id == bot_id, AgentSession.key == key)
    async with db.read() as session:
        found = await session.scalar(query)
    if found is not None:
        return found
    try:
        async with db.write() as session:
            row = AgentSession(bot_id=bot_id, house_id=house_id, room_id=room_id, key=key,
                               kind=kind, synced_seq=0, next_index=1, turn_count=0,
                               total_tokens=0, compactions=0)
            session.add(row)
        return row
    except IntegrityError:  # made meanwhile by another process
        async with db.read() as session:
            found = await session.scalar(query)
        assert found is not None
        return found


async def append_turns(db: Database, session_id: str, turns: Sequence[ChatMessage], *,
                       activation_id: str | None = None,
                       message_ids: Sequence[str | None] | None = None,
                       summary_of: tuple[int, int] | None = None) -> list[StoredTurn]:
    """Add turns at the end of the session, numbered in order, and count their tokens.
    `summary_of` makes the one turn given a summary standing in for those turn numbers."""
    if not turns:
        return []
    async with db.write() as session:
        # The counter moves in the same statement that reads it: appends never share a number.
        row = await session.get(AgentSession, session_id, with_for_update=not db.is_sqlite)
        if row is None:
            raise InvalidInput("the session no longer exists")
        first = row.next_index
        out: list[StoredTurn] = []
        for offset, turn in enumerate(turns):
            tokens = turn_tokens(turn)
            role = "summary" if summary_of is not None else turn.role
            record = SessionTurn(
                session_id=session_id, index=first + offset, role=role, content=turn.content,
                tool_calls=[{"id": c.id, "name": c.name, "arguments": dict(c.arguments)}
                            for c in turn.tool_calls],
                tool_call_id=turn.tool_call_id, name=turn.name,
                message_id=message_ids[offset] if message_ids else None,
                activation_id=activation_id, tokens=tokens,
                covers_from=summary_of[0] if summary_of else None,
                covers_to=summary_of[1] if summary_of else None)
            session.add(record)
            kept = _stored(record)
            # This activation keeps the turn as given (a model's reasoning and its signature,
            # images): the session stores the words.
            out.append(kept if summary_of is not None else replace(kept, message=turn))
        await session.execute(update(AgentSession).where(AgentSession.id == session_id).values(
            next_index=first + len(turns), turn_count=AgentSession.turn_count + len(turns),
            total_tokens=AgentSession.total_tokens + sum(t.tokens for t in out),
            compactions=AgentSession.compactions + (1 if summary_of else 0),
            updated_at=utcnow()))
    return out


async def sync_room(db: Database, agent_session: AgentSession, room: Room, bot_id: str,
                    newest: dict[str, Any] | None, activation_id: str) -> int:
    """Take in the room's messages the session has not seen, up to `newest` (the message
    that woke the agent; later ones wait for the next wake), as turns: other people's as
    user turns, the agent's own as assistant turns unless the session holds them already.
    A new session starts from the room's last CONTEXT_MESSAGES; at most SYNC_LIMIT come in
    at once. Returns how many turns were added."""
    fresh = agent_session.turn_count == 0 and agent_session.synced_seq == 0
    async with db.read() as session:
        if newest is None:
            views = await history(session, room, limit=CONTEXT_MESSAGES if fresh else SYNC_LIMIT)
        else:
            limit = (CONTEXT_MESSAGES if fresh else SYNC_LIMIT) - 1
            views = await history(session, room, limit=limit, before=newest["id"])
            views.insert(0, newest)
        views = [v for v in views if v["seq"] > agent_session.synced_seq]
        views.reverse()
        own = [v["id"] for v in views if v["sender_id"] == bot_id]
        held = set((await session.scalars(select(SessionTurn.message_id).where(
            SessionTurn.session_id == agent_session.id,
            SessionTurn.message_id.in_(own)))).all()) if own else set()
    if not views:
        return 0
    taken = [v for v in views if not v["deleted"] and v["id"] not in held]
    await append_turns(db, agent_session.id, [message_turn(v, bot_id) for v in taken],
                       activation_id=activation_id, message_ids=[v["id"] for v in taken])
    # One activation of an agent runs at a time, so nothing else moves this mark meanwhile.
    async with db.write() as session:
        await session.execute(update(AgentSession).where(
            AgentSession.id == agent_session.id, AgentSession.synced_seq < views[-1]["seq"]
        ).values(synced_seq=views[-1]["seq"]))
    agent_session.synced_seq = max(agent_session.synced_seq, views[-1]["seq"])
    return len(taken)


async def working_turns(db: Database, session_id: str) -> list[StoredTurn]:
    """What the context is built from: the newest summary, then every turn after the turns
    it covers (older summaries are folded into the newest)."""
    async with db.read() as session:
        summary = await session.scalar(
            select(SessionTurn).where(SessionTurn.session_id == session_id,
                                      SessionTurn.role == "summary")
            .order_by(SessionTurn.index.desc()).limit(1))
        after = summary.covers_to if summary is not None and summary.covers_to else 0
        rows = (await session.scalars(
            select(SessionTurn).where(SessionTurn.session_id == session_id,
                                      SessionTurn.index > after, SessionTurn.role != "summary")
            .order_by(SessionTurn.index))).all()
    return ([_stored(summary)] if summary is not None else []) + [_stored(r) for r in rows]


async def turns_after(db: Database, session_id: str, index: int) -> list[StoredTurn]:
    """The session's turns numbered after `index`, in order: what others added to it (a
    CREW_UPDATE) while an activation worked in it."""
    async with db.read() as session:
        rows = (await session.scalars(
            select(SessionTurn).where(SessionTurn.session_id == session_id,
                                      SessionTurn.index > index, SessionTurn.role != "summary")
            .order_by(SessionTurn.index))).all()
    return [_stored(r) for r in rows]


def summary_text(turn: StoredTurn) -> str:
    """A summary as the model reads it, first in the context."""
    return (f"[Summary of the earlier conversation (turns {turn.covers_from}-{turn.covers_to}), "
            f"written when it was compacted]\n{turn.message.content}")


def context_of(turns: Sequence[StoredTurn], *, with_tools: bool) -> list[ChatMessage]:
    """The model's turns: the summary first, then the turns since. Tool turns stay only when
    tools are declared (some providers refuse calls of undeclared tools), and a call with no
    result, or a result with no call, is left out."""
    out: list[ChatMessage] = []
    for turn in turns:
        if turn.role == "summary":
            out.append(ChatMessage("user", summary_text(turn)))
        else:
            out.append(turn.message)
    return well_formed(out, with_tools=with_tools)


def well_formed(turns: Sequence[ChatMessage], *, with_tools: bool) -> list[ChatMessage]:
    """Turns every provider accepts: each tool call answered by its result right after it."""
    out: list[ChatMessage] = []
    i = 0
    while i < len(turns):
        turn = turns[i]
        if turn.role == "tool":
            i += 1  # a result whose call is not just before it
            continue
        if turn.role == "assistant" and turn.tool_calls:
            results = []
            j = i + 1
            while j < len(turns) and turns[j].role == "tool":
                results.append(turns[j])
                j += 1
            answered = {r.tool_call_id for r in results}
            complete = all(c.id in answered for c in turn.tool_calls)
            if with_tools and complete:
                out.append(turn)
                out.extend(r for r in results
                           if r.tool_call_id in {c.id for c in turn.tool_calls})
            elif turn.content.strip():
                out.append(ChatMessage("assistant", turn.content))
            i = j
            continue
        out.append(turn)
        i += 1
    return out


# -- views ------------------------------------------------------------------------------


def session_view(row: AgentSession, context_tokens: int | None = None) -> dict[str, Any]:
    """A session as the API lists it."""
    view: dict[str, Any] = {
        "id": row.id, "key": row.key, "kind": row.kind, "agent_id": row.bot_id,
        "house_id": row.house_id, "room_id": row.room_id, "turn_count": row.turn_count,
        "total_tokens": row.total_tokens, "compactions": row.compactions,
        "created_at": iso(row.created_at), "updated_at": iso(row.updated_at)}
    if context_tokens is not None:
        view["context_tokens"] = context_tokens
    return view


def turn_view(row: SessionTurn) -> dict[str, Any]:
    """A turn as the API and the JSONL export show it."""
    view: dict[str, Any] = {"index": row.index, "role": row.role, "content": row.content,
                            "tokens": row.tokens, "created_at": iso(row.created_at)}
    if row.tool_calls:
        view["tool_calls"] = row.tool_calls
    if row.tool_call_id is not None:
        view["tool_call_id"], view["name"] = row.tool_call_id, row.name
    if row.message_id is not None:
        view["message_id"] = row.message_id
    if row.activation_id is not None:
        view["activation_id"] = row.activation_id
    if row.role == "summary":
        view["covers"] = [row.covers_from, row.covers_to]
    return view


def jsonl(rows: Sequence[SessionTurn]) -> Iterator[str]:
    """The turns as JSON Lines, one turn a line."""
    for row in rows:
        yield json.dumps(turn_view(row), ensure_ascii=False) + "\n"


class SessionTurnSearch:
    """memory_search's `sessions` source: the turns of the agent's own sessions in the room
    it works in (its room session, its cron jobs' and its sub-agents' there), newest first,
    that hold every word of the query. What they hold was already in that room's context, so
    nothing crosses rooms."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def search(self, agent_id: str, room_id: str, query: str, limit: int) -> list[Hit]:
        """Matching turns as search hits (kind `session`, item `<session key>#<turn>`)."""
        words = [w.lower() for w in query.split() if w.strip()][:8]
        if not words:
            return []
        async with self.db.read() as session:
            rows = (await session.execute(
                select(SessionTurn, AgentSession.key)
                .join(AgentSession, AgentSession.id == SessionTurn.session_id)
                .where(AgentSession.bot_id == agent_id, AgentSession.room_id == room_id,
                       SessionTurn.role.in_(("user", "assistant", "summary")),
                       *[func.lower(SessionTurn.content).contains(w, autoescape=True)
                         for w in words])
                .order_by(SessionTurn.created_at.desc(), SessionTurn.index.desc())
                .limit(limit))).all()
        return [Hit(doc_id=-1, kind="session", item_id=f"{key}#{turn.index}", room_id=room_id,
                    scope=turn.role, text=turn.content, score=SESSION_SCORE,
                    keyword=SESSION_SCORE, created_at=turn.created_at)
                for turn, key in rows]
