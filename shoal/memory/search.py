"""Hybrid search: keyword scores (scaled by the best of the answer) and vector similarity,
merged as (1 - w) * keyword + w * vector, over what the searcher may be offered."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import bindparam, func, select

from shoal.llm import AllModelsFailed, embed_texts
from shoal.memory.keyword import keyword_search, offered, terms
from shoal.memory.tables import MemoryNote, MemoryVector, SearchDoc
from shoal.memory.vectors import VectorFilter, VectorIndex, as_vector
from shoal.store.tables import House, Message, Room, User, iso

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.config import MemorySettings
    from shoal.llm import Embeddings, ModelRouter
    from shoal.store import Database

log = logging.getLogger("shoal.memory")
CANDIDATES = 4  # each side brings this many times the results asked for

# Built once: a search runs these every time.
_HOUSE = (select(House.settings, select(func.max(MemoryVector.id))
                 .where(MemoryVector.house_id == bindparam("house")).scalar_subquery())
          .where(House.id == bindparam("house")))
_HITS = (select(SearchDoc, Message.content, Message.seq, Message.sender_name, User.display_name,
                MemoryNote.text, MemoryNote.tags, Room.name)
         .outerjoin(Message, (SearchDoc.kind == "message") & (Message.id == SearchDoc.item_id))
         .outerjoin(User, User.id == Message.sender_id)
         .outerjoin(MemoryNote, (SearchDoc.kind == "note")
                    & (MemoryNote.id == SearchDoc.item_id))
         .outerjoin(Room, Room.id == SearchDoc.room_id)
         .where(SearchDoc.id.in_(bindparam("ids", expanding=True))))


@dataclass
class Hit:
    """One search result."""

    doc_id: int
    kind: str  # message | note
    item_id: str
    room_id: str | None
    scope: str
    text: str
    score: float
    keyword: float = 0.0
    vector: float = 0.0
    room_name: str | None = None
    sender: str | None = None
    seq: int | None = None
    created_at: datetime | None = None
    tags: list[str] = field(default_factory=list)

    def view(self) -> dict[str, Any]:
        """The hit as the API shows it."""
        return {"id": self.item_id, "kind": self.kind, "roomId": self.room_id,
                "roomName": self.room_name, "scope": self.scope, "text": self.text,
                "score": round(self.score, 4), "keywordScore": round(self.keyword, 4),
                "vectorScore": round(self.vector, 4), "sender": self.sender, "seq": self.seq,
                "tags": self.tags, "createdAt": iso(self.created_at)}


@dataclass
class Answer:
    """Hits, best first, and how the search was made (which embedding model, or why none)."""

    hits: list[Hit]
    model: str | None
    note: str | None = None


class SessionSearch(Protocol):
    """The hook through which memory_search's `sessions` source reads agents' session
    transcripts, once sessions exist (issue 18 §1); unset, `sessions` searches the room
    history the agent may read."""

    async def search(self, agent_id: str, room_id: str, query: str, limit: int) -> list[Hit]:
        """Turns of the agent's sessions matching the query."""
        ...


class MemorySearch:
    """Searches notes and room history for agents and people."""

    def __init__(self, db: Database, settings: MemorySettings,
                 models: Callable[[], ModelRouter]) -> None:
        self.db = db
        self.settings = settings
        self.models = models
        self.vectors = VectorIndex(db, settings.max_vectors, settings.vector_refresh_seconds)
        self.sessions: SessionSearch | None = None

    async def house_memory(self, house_id: str) -> Mapping[str, Any]:
        """The house's `memory` settings (embedding model, weight), {} when unset."""
        async with self.db.read() as session:
            settings = await session.scalar(select(House.settings).where(House.id == house_id))
        value = (settings or {}).get("memory")
        return value if isinstance(value, dict) else {}

    def chain(self, house: Mapping[str, Any]) -> list[str]:
        """The embedding models to try, in order."""
        first = house.get("embedding_model") or self.settings.embedding_model
        rest = house.get("embedding_fallbacks", self.settings.embedding_fallbacks)
        return list(dict.fromkeys([str(first), *[str(m) for m in rest or []]]))

    async def embed(self, house_id: str, texts: Sequence[str],
                    house: Mapping[str, Any] | None = None) -> Embeddings:
        """Vectors from the house's embedding chain; AllModelsFailed when none answers."""
        house = await self.house_memory(house_id) if house is None else house
        return await embed_texts(self.models(), texts, self.chain(house), house_id=house_id)

    async def search(self, house_id: str, where: VectorFilter, query: str, *,
                     max_results: int, min_score: float, vector_weight: float | None = None,
                     session: AsyncSession | None = None) -> Answer:
        """The best hits for the query, at most `max_results`, none below `min_score`. Pass
        the caller's read session to search in it (one connection for the whole search)."""
        wanted = max_results * CANDIDATES
        async with AsyncExitStack() as stack:
            if session is None:
                session = await stack.enter_async_context(self.db.read())
            # The house's settings and its newest stored vector's id, in one query: the
            # in-memory vectors catch up only when that id is past what they hold.
            row = (await session.execute(_HOUSE, {"house": house_id})).first()
            settings, newest = (row[0], row[1]) if row is not None else (None, None)
            house = (settings or {}).get("memory")
            house = house if isinstance(house, dict) else {}
            weight = float(house.get("vector_weight", vector_weight if vector_weight is not None
                                     else self.settings.vector_weight))
            # The query's embedding is made while the keyword query runs in the database.
            keyword, (model, note, vector, q) = await asyncio.gather(
                self._keyword(session, house_id, query, where, wanted),
                self._nearest(house_id, house, query, where, wanted, weight, newest or 0))
            if model is not None and q is not None:
                missing = [d for d, _ in keyword if d not in vector]
                vector.update(self.vectors.scores(house_id, model, q, missing))
            else:
                weight = 0.0
            best = max((s for _, s in keyword), default=0.0)
            scaled = {d: (s / best if best > 0 else 0.0) for d, s in keyword}
            merged = {d: (1 - weight) * scaled.get(d, 0.0)
                      + weight * max(0.0, vector.get(d, 0.0))
                      for d in set(scaled) | set(vector)}
            ranked = sorted((d for d, s in merged.items() if s >= min_score),
                            key=lambda d: -merged[d])
            hits = await self.load(ranked[: max_results * 2], where, session=session)
        for hit in hits:
            hit.score = merged[hit.doc_id]
            hit.keyword = scaled.get(hit.doc_id, 0.0)
            hit.vector = vector.get(hit.doc_id, 0.0)
        return Answer(hits[:max_results], model, note)

    async def _keyword(self, session: AsyncSession, house_id: str, query: str,
                       where: VectorFilter, wanted: int) -> list[tuple[int, float]]:
        if self.db.is_sqlite:  # FTS5 ranks any-word matches fast; more words rank higher
            return await keyword_search(session, house_id, query, where, wanted)
        # PostgreSQL: documents with every word first; any word only when those are too few
        # (a common word alone matches much of the house, and ranking all of it is slow).
        found = await keyword_search(session, house_id, query, where, wanted, every_word=True)
        if len(found) < wanted and len(terms(query)) > 1:
            found = await keyword_search(session, house_id, query, where, wanted)
        return found

    async def _nearest(self, house_id: str, house: Mapping[str, Any], query: str,
                       where: VectorFilter, wanted: int, weight: float, newest: int
                       ) -> tuple[str | None, str | None, dict[int, float],
                                  NDArray[np.float32] | None]:
        """The embedding model used (None if none), why none, the nearest documents, and the
        query's vector."""
        if weight <= 0:
            return None, None, {}, None
        try:
            embedded = await self.embed(house_id, [query], house)
        except AllModelsFailed as exc:
            log.warning("memory search without vectors in house %s: %s", house_id, exc)
            return None, f"keyword search only: no embedding model answered ({exc})", {}, None
        q = as_vector(embedded.vectors[0])
        await self.vectors.refresh(house_id, newest)
        return embedded.model, None, dict(self.vectors.search(
            house_id, embedded.model, q, where, wanted)), q

    async def load(self, doc_ids: Sequence[int], where: VectorFilter | None = None, *,
                   session: AsyncSession | None = None) -> list[Hit]:
        """The documents still there, in the given order, with their room, sender and note
        details; with `where`, only those it allows (a stale in-memory vector row of a doc that
        moved or went is dropped here)."""
        if not doc_ids:
            return []
        async with AsyncExitStack() as stack:
            if session is None:
                session = await stack.enter_async_context(self.db.read())
            rows = (await session.execute(_HITS, {"ids": list(doc_ids)})).tuples().all()
        found = {row[0].id: row for row in rows}
        hits = []
        for doc_id in doc_ids:
            row = found.get(doc_id)
            if row is None:
                continue
            doc, content, seq, sender, name, note, tags, room = row
            if where is not None and not allows(where, doc):
                continue
            hit = Hit(doc.id, doc.kind, doc.item_id, doc.room_id, doc.scope, doc.body, 0.0,
                      room_name=room, created_at=doc.created_at)
            if doc.kind == "message":
                if content is None:
                    continue
                hit.text, hit.seq, hit.sender = content, seq, sender or name
            else:
                if note is None:
                    continue
                hit.text, hit.tags = note, list(tags or [])
            hits.append(hit)
        return hits


def allows(where: VectorFilter, doc: SearchDoc) -> bool:
    """Whether the filter offers this document (the SQL and numpy filters say the same)."""
    return offered(where, doc.scope, doc.room_id, doc.agent_id)
