"""Memory's tables: notes agents and people keep, the search index over notes and room
messages, the stored vectors, and the queue of documents waiting for a vector.

Room messages reach `search_docs` through database triggers (migration 0009), so every way a
message is written, edited or deleted keeps the index right and a new message is searchable by
keyword in the same transaction. Each new or changed document gets an `embed_jobs` row that the
indexer (shoal.memory.indexer) claims with a lease, in any process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from shoal.ids import new_id
from shoal.store.tables import Base, JSONValue, UTCDateTime, iso, utcnow


class MemoryNote(Base):
    """One note: text and tags, its scope (`agent`: the agent's own; `room`: the room it was
    saved in; `house`: every agent of the house), and the room it was saved in. A room's
    `/save <key>` notes are room-scoped notes with their key (`note_key`)."""

    __tablename__ = "memory_notes"
    __table_args__ = (UniqueConstraint("room_id", "note_key"),
                      Index("ix_memory_notes_house_agent", "house_id", "agent_id"))

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=new_id)
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"))
    room_id: Mapped[str | None] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    agent_id: Mapped[str | None] = mapped_column(String(36))
    scope: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONValue, default=list)
    note_key: Mapped[str | None] = mapped_column(String(64))
    created_by: Mapped[str | None] = mapped_column(String(36))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SearchDoc(Base):
    """One searchable document: a room message or a memory note, with its house and room so
    search can keep to what the searcher may read. The keyword index (FTS5 on SQLite, a
    tsvector column on PostgreSQL) is kept by the database."""

    __tablename__ = "search_docs"
    __table_args__ = (UniqueConstraint("kind", "item_id"),
                      Index("ix_search_docs_house_room", "house_id", "room_id", "id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8))  # message | note
    item_id: Mapped[str] = mapped_column(String(36))
    house_id: Mapped[str] = mapped_column(ForeignKey("houses.id", ondelete="CASCADE"))
    room_id: Mapped[str | None] = mapped_column(ForeignKey("rooms.id", ondelete="CASCADE"))
    # Who may be offered it: `history` (a message: readers of its room), or a note's scope.
    scope: Mapped[str] = mapped_column(String(8))
    agent_id: Mapped[str | None] = mapped_column(String(36))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MemoryVector(Base):
    """A document's vector from one embedding model, as little-endian float32 bytes. `id`
    grows with every vector written, so a process's in-memory copy catches up by id."""

    __tablename__ = "memory_vectors"
    __table_args__ = (Index("ix_memory_vectors_house_id", "house_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    doc_id: Mapped[int] = mapped_column(ForeignKey("search_docs.id", ondelete="CASCADE"),
                                        unique=True)
    house_id: Mapped[str] = mapped_column(String(36))
    model: Mapped[str] = mapped_column(String(200))
    vector: Mapped[bytes] = mapped_column(LargeBinary)


class EmbedJob(Base):
    """A document waiting for its vector; claimed with a lease by an indexer."""

    __tablename__ = "embed_jobs"

    doc_id: Mapped[int] = mapped_column(ForeignKey("search_docs.id", ondelete="CASCADE"),
                                        primary_key=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    available_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)


def note_view(note: MemoryNote) -> dict[str, Any]:
    """A note as the API and tools show it."""
    return {"id": note.id, "scope": note.scope, "text": note.text, "tags": list(note.tags or []),
            "key": note.note_key, "roomId": note.room_id, "agentId": note.agent_id,
            "createdBy": note.created_by, "createdAt": iso(note.created_at),
            "updatedAt": iso(note.updated_at)}
