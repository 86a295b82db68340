"""The memory tools (group `memory`): memory_save, memory_get, memory_forget and
memory_search, for an agent in a room. What they offer follows shoal.memory.scope: never a
note or a message from a room the room's readers could not read."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select

from shoal.errors import InvalidInput, NotFound
from shoal.memory import (
    SCOPES,
    MemoryNote,
    MemorySearch,
    agent_filter,
    find_note,
    forget_note,
    save_note,
)
from shoal.memory.vectors import VectorFilter
from shoal.store.tables import Room
from shoal.tools.base import Tool, ToolError, ToolList

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.config import MemorySettings
    from shoal.memory import Hit
    from shoal.store import Database
    from shoal.tools.base import ToolScope

log = logging.getLogger("shoal.tools")

GROUP = "memory"
MAX_QUERY_CHARS = 400
SOURCES = ("memory", "sessions", "rooms")
ID_SCHEMA: dict[str, Any] = {"type": "object", "properties": {"id": {"type": "string"}},
                             "required": ["id"]}
SHOWN_CHARS = 500


class MemoryTools:
    """Supplies the memory tools in every room."""

    def __init__(self, db: Database, search: MemorySearch, settings: MemorySettings) -> None:
        self.db = db
        self.search = search
        self.settings = settings

    async def tools(self, scope: ToolScope) -> ToolList:
        """The four memory tools, bound to the bot and room (a call outside a room, which no
        activation makes, is refused)."""
        return ToolList([self._save(scope), self._get(scope), self._forget(scope),
                         self._search_tool(scope)])

    def _save(self, scope: ToolScope) -> Tool:
        async def run(arguments: dict[str, Any]) -> str:
            _in_room(scope)
            text = _text(arguments, "text", "memory_save needs the text to remember")
            tags = arguments.get("tags") or []
            if isinstance(tags, str):
                tags = [t for t in tags.replace(",", " ").split() if t]
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise ToolError("tags must be a list of words")
            where = str(arguments.get("scope") or "agent")
            async with self.db.write() as session:
                room = await session.get(Room, scope.room_id)
                if room is None:
                    raise ToolError("the room is gone")
                kept = await session.scalar(select(func.count()).select_from(MemoryNote).where(
                    MemoryNote.house_id == room.house_id, MemoryNote.agent_id == scope.bot.id))
                if (kept or 0) >= self.settings.max_notes_per_agent:
                    log.warning("agent %s keeps %d notes in house %s, its limit", scope.bot.id,
                                kept, room.house_id)
                    raise ToolError(f"you already keep {kept:,} notes in this house, the "
                                    "limit; forget some with memory_forget first")
                try:
                    note = await save_note(session, room=room, agent_id=scope.bot.id,
                                           by=scope.bot.id, text=text, tags=tags, scope=where)
                except InvalidInput as exc:
                    raise ToolError(exc.message) from None
            return f"Saved note {note.id} ({note.scope})."

        return Tool("memory_save", (
            "Save a note to your long-term memory, to find later with memory_search. scope: "
            "agent (yours alone, the default), room (this room's), house (every agent of the "
            "house; only from a public room)."), {
            "type": "object",
            "properties": {
                "text": {"type": "string", "description": "what to remember, self-contained"},
                "tags": {"type": "array", "items": {"type": "string"},
                         "description": "a few words to file it under"},
                "scope": {"type": "string", "enum": list(SCOPES)},
            },
            "required": ["text"],
        }, (GROUP,), run)

    def _get(self, scope: ToolScope) -> Tool:
        async def run(arguments: dict[str, Any]) -> str:
            _in_room(scope)
            note_id = _text(arguments, "id", "memory_get needs a note id from memory_search")
            async with self.db.read() as session:
                note = await _readable_note(session, scope, note_id)
            tags = f" tags: {', '.join(note.tags)}" if note.tags else ""
            return f"Note {note.id} ({note.scope}{tags}):\n{note.text}"

        return Tool("memory_get", "Read one memory note in full by its id.", ID_SCHEMA,
                    (GROUP,), run)

    def _forget(self, scope: ToolScope) -> Tool:
        async def run(arguments: dict[str, Any]) -> str:
            _in_room(scope)
            note_id = _text(arguments, "id", "memory_forget needs a note id")
            async with self.db.write() as session:
                note = await _readable_note(session, scope, note_id)
                if note.scope == "house" and note.created_by != scope.bot.id:
                    raise ToolError("this house note was saved by someone else; ask a person "
                                    "to forget it with /memory")
                await forget_note(session, note)
            return f"Forgot note {note_id}."

        return Tool("memory_forget", "Delete a memory note by its id.", ID_SCHEMA, (GROUP,), run)

    def _search_tool(self, scope: ToolScope) -> Tool:
        async def run(arguments: dict[str, Any]) -> str:
            return await self.run_search(scope, arguments)

        return Tool("memory_search", (
            "Search your memory notes and the history of the rooms you may quote here, by "
            "words and by meaning. Use it before answering about earlier work, decisions, "
            "dates, people or preferences."), {
            "type": "object",
            "properties": {
                "query": {"type": "string"},
                "sources": {"type": "array", "items": {"type": "string", "enum": list(SOURCES)},
                            "description": "memory (notes), sessions, rooms (room history); "
                                           "default memory and rooms"},
                "max_results": {"type": "integer", "minimum": 1, "maximum": 50},
                "min_score": {"type": "number", "minimum": 0, "maximum": 1},
            },
            "required": ["query"],
        }, (GROUP,), run)

    async def run_search(self, scope: ToolScope, arguments: dict[str, Any]) -> str:
        """memory_search: its answer as the model reads it."""
        _in_room(scope)
        query = _text(arguments, "query", "memory_search needs a query")
        if len(query) > MAX_QUERY_CHARS:
            raise ToolError(f"the query is longer than {MAX_QUERY_CHARS} characters; use fewer "
                            "words")
        sources = arguments.get("sources") or ["memory", "rooms"]
        if isinstance(sources, str):
            sources = [sources]
        if not isinstance(sources, list) or any(s not in SOURCES for s in sources):
            raise ToolError("sources must be a list of memory, sessions, rooms")
        limit = _number(arguments.get("max_results"), self.settings.max_results, 1, 50,
                        "max_results", whole=True)
        floor = _number(arguments.get("min_score"), self.settings.min_score, 0, 1, "min_score")
        said: list[str] = []
        history = "rooms" in sources
        if "sessions" in sources and self.search.sessions is None:
            said.append("(sessions are not kept yet; the room history was searched instead)")
            history = True
        hits: list[Hit] = []
        async with self.db.read() as session:  # one connection: who reads the room, the search
            house_id, where = await agent_filter(session, scope.bot.id, scope.room_id)
            where = VectorFilter(where.rooms, where.here, where.agent,
                                 notes="memory" in sources, history=history)
            if where.notes or where.history:  # not for the sessions alone
                answer = await self.search.search(house_id, where, query,
                                                  max_results=int(limit), min_score=floor,
                                                  session=session)
                hits = list(answer.hits)
                if answer.note:
                    said.append(f"({answer.note})")
        if "sessions" in sources and self.search.sessions is not None:
            hits.extend(await self.search.sessions.search(scope.bot.id, scope.room_id, query,
                                                          int(limit)))
            hits = sorted(hits, key=lambda h: -h.score)[: int(limit)]
        if not hits:
            return "\n".join([*said, f"Nothing in memory matches {query!r} "
                                      f"(min_score {floor:g})."])
        return "\n".join([*said, *(_line(h) for h in hits)])


def _line(hit: Hit) -> str:
    text = " ".join(hit.text.split())
    if len(text) > SHOWN_CHARS:
        text = text[:SHOWN_CHARS] + "…"
    when = hit.created_at.strftime("%Y-%m-%d %H:%M") if hit.created_at else "?"
    if hit.kind == "note":
        tags = f", tags {' '.join(hit.tags)}" if hit.tags else ""
        return f"- note {hit.item_id} ({hit.scope}{tags}, {when}) score {hit.score:.2f}: {text}"
    if hit.kind == "session":
        return (f"- turn {hit.item_id} of your session ({hit.scope}, {when}) "
                f"score {hit.score:.2f}: {text}")
    return (f"- message in #{hit.room_name} (seq {hit.seq}, {hit.sender}, {when}) "
            f"score {hit.score:.2f}: {text}")


async def _readable_note(session: AsyncSession, scope: ToolScope, note_id: str) -> MemoryNote:
    """A note the agent may read where it works, or ToolError saying there is none."""
    house_id, where = await agent_filter(session, scope.bot.id, scope.room_id)
    try:
        return await find_note(session, house_id, note_id, where)
    except NotFound as exc:
        raise ToolError(exc.message) from None


def _in_room(scope: ToolScope) -> None:
    if not scope.room_id:
        raise ToolError("memory tools work in a room")


def _text(arguments: dict[str, Any], name: str, missing: str) -> str:
    value = arguments.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ToolError(missing)
    return value.strip()


def _number(value: Any, default: float, low: float, high: float, name: str,
            whole: bool = False) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ToolError(f"{name} must be a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ToolError(f"{name} must be a number") from None
    if whole and number != int(number):
        raise ToolError(f"{name} must be a whole number")
    if not low <= number <= high:
        raise ToolError(f"{name} must be between {low:g} and {high:g}")
    return number
