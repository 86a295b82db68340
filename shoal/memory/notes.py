"""Memory notes: saved by agents (memory_save) and people (/save, /memory), each with a scope,
and written to the search index in the same transaction."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlalchemy import delete, select

from shoal.errors import InvalidInput, NotFound
from shoal.memory.tables import MemoryNote, SearchDoc
from shoal.store.tables import Note, Room

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.memory.vectors import VectorFilter

SCOPES = ("agent", "room", "house")
MAX_TEXT = 4000
MAX_TAGS = 10
TAG = re.compile(r"^[\w.:-]{1,32}$", re.UNICODE)


def check_tags(tags: Sequence[str] | None) -> list[str]:
    """Tags as stored, or InvalidInput saying what is wrong."""
    found = list(dict.fromkeys(t.strip().lstrip("#").lower() for t in (tags or []) if t.strip()))
    if len(found) > MAX_TAGS:
        raise InvalidInput(f"a note has at most {MAX_TAGS} tags")
    for tag in found:
        if not TAG.match(tag):
            raise InvalidInput(f"the tag {tag!r} is not 1-32 letters, digits or _ . : -")
    return found


def _body(text: str, tags: Sequence[str]) -> str:
    return text + ("\n" + " ".join(f"#{t}" for t in tags) if tags else "")


async def save_note(session: AsyncSession, *, room: Room, agent_id: str | None, by: str,
                    text: str, tags: Sequence[str] | None = None, scope: str = "agent",
                    key: str | None = None) -> MemoryNote:
    """Save a note from a room. A house-wide note must come from a public room: what was said
    in a DM or private room is not published to the house by a note."""
    text = text.strip()
    if not text:
        raise InvalidInput("a note needs text")
    if len(text) > MAX_TEXT:
        raise InvalidInput(f"a note holds at most {MAX_TEXT} characters")
    if scope not in SCOPES:
        raise InvalidInput("scope must be agent, room or house")
    if scope == "agent" and agent_id is None:
        raise InvalidInput("only an agent keeps agent-scoped notes; use room or house")
    if scope == "house" and (room.is_private or room.is_dm):
        raise InvalidInput("a house-wide note can only be saved from a public room; this room "
                           "is private, so save it with scope room or agent")
    clean = check_tags(tags)
    note = MemoryNote(house_id=room.house_id, room_id=room.id,
                      agent_id=agent_id, scope=scope,
                      text=text, tags=clean, note_key=key, created_by=by)
    session.add(note)
    await session.flush()
    session.add(SearchDoc(kind="note", item_id=note.id, house_id=room.house_id, room_id=room.id,
                          scope=scope, agent_id=agent_id if scope == "agent" else None,
                          body=_body(text, clean)))
    return note


async def put_keyed_note(session: AsyncSession, room: Room, key: str, value: str, by: str
                         ) -> None:
    """A room's `/save key value` as a room-scoped memory note, replacing the key's last."""
    await drop_keyed_note(session, room.id, key)
    await session.flush()
    await save_note(session, room=room, agent_id=None, by=by, text=f"{key}: {value}",
                    scope="room", key=key)


async def drop_keyed_note(session: AsyncSession, room_id: str, key: str) -> None:
    """Forget the memory note a `/save key` made, if any."""
    ids = (await session.scalars(select(MemoryNote.id).where(
        MemoryNote.room_id == room_id, MemoryNote.note_key == key))).all()
    if ids:
        await session.execute(delete(SearchDoc).where(SearchDoc.kind == "note",
                                                      SearchDoc.item_id.in_(ids)))
        await session.execute(delete(MemoryNote).where(MemoryNote.id.in_(ids)))


def visible(note: MemoryNote, where: VectorFilter) -> bool:
    """Whether a searcher with this filter may see the note (the rule of shoal.memory.scope)."""
    if note.scope == "house":
        return True
    if note.scope == "room":
        return note.room_id is not None and note.room_id == where.here
    return (note.agent_id is not None and note.agent_id == where.agent
            and note.room_id in where.rooms)


async def find_note(session: AsyncSession, house_id: str, note_id: str, where: VectorFilter
                    ) -> MemoryNote:
    """A note the searcher may see, or NotFound (a note it may not see does not exist for it)."""
    note = await session.get(MemoryNote, note_id)
    if note is None or note.house_id != house_id or not visible(note, where):
        raise NotFound(f"there is no note {note_id} here")
    return note


async def forget_note(session: AsyncSession, note: MemoryNote) -> None:
    """Delete a note and its index entry; a keyed room note's /save entry goes too."""
    if note.note_key is not None and note.room_id is not None:
        await session.execute(delete(Note).where(Note.room_id == note.room_id,
                                                 Note.key == note.note_key))
    await session.execute(delete(SearchDoc).where(SearchDoc.kind == "note",
                                                  SearchDoc.item_id == note.id))
    await session.delete(note)


