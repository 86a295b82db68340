"""Search for people: every room the caller can read, newest keyword matches first with
highlighted snippets and a cursor, and on the first page the closest matches by meaning that
the words missed (when the house has vectors)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from shoal.errors import InvalidInput, NotFound
from shoal.llm import AllModelsFailed
from shoal.memory.keyword import keyword_search, terms
from shoal.memory.scope import readable_rooms
from shoal.memory.tables import SearchDoc
from shoal.memory.vectors import VectorFilter, as_vector
from shoal.store.tables import HouseMember, iso

if TYPE_CHECKING:
    from shoal.memory.search import Hit, MemorySearch

SNIPPET_CHARS = 200
MEANING_RESULTS = 5
MEANING_MIN = 0.25  # cosine below this is not offered as a match by meaning


@dataclass(frozen=True)
class PeopleQuery:
    """What a person asked for."""

    q: str
    room_id: str | None = None
    sender: str | None = None  # a user id or @handle
    before: str | None = None  # a message id: only older results (the next page)
    limit: int = 20


def highlight(text: str, query: str, width: int = SNIPPET_CHARS) -> dict[str, Any]:
    """A window of the text around the first matched word, and where each matched word
    (a query word, or a word starting with its stem) is in it, as [start, end] pairs."""
    words = [w[: max(3, len(w) - 3)] if len(w) > 5 else w for w in terms(query)]
    if not words:
        return {"snippet": text[:width], "highlights": []}
    pattern = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\w*",
                         re.IGNORECASE)
    first = pattern.search(text)
    start = 0 if first is None else max(0, first.start() - width // 3)
    end = min(len(text), start + width)
    snippet = text[start:end]
    marks = [[m.start(), m.end()] for m in pattern.finditer(snippet)]
    prefix = "…" if start > 0 else ""
    if prefix:
        marks = [[a + 1, b + 1] for a, b in marks]
    return {"snippet": prefix + snippet + ("…" if end < len(text) else ""), "highlights": marks}


class PeopleSearch:
    """GET /api/search."""

    def __init__(self, search: MemorySearch) -> None:
        self.search = search

    async def run(self, user_id: str, query: PeopleQuery) -> dict[str, Any]:
        """Results and the cursor of the next page (None on the last)."""
        if not terms(query.q):
            raise InvalidInput("q needs at least one word to search for")
        db = self.search.db
        async with db.read() as session:
            houses = await readable_rooms(session, user_id)
            if query.room_id is not None:
                house = next((h for h, rooms in houses.items() if query.room_id in rooms), None)
                if house is None:
                    raise NotFound("room not found")
                houses = {house: {query.room_id}}
            before_at = None
            if query.before is not None:
                row = (await session.execute(select(SearchDoc.created_at, SearchDoc.id).where(
                    SearchDoc.kind == "message", SearchDoc.item_id == query.before))).first()
                if row is None:
                    raise InvalidInput("before must be the id of a message from an earlier page")
                before_at = (row[0], row[1])
            senders = await self._senders(session, query.sender, list(houses))
        found: list[tuple[int, str]] = []
        for house_id, rooms in houses.items():
            if query.sender is not None and house_id not in senders:
                continue
            async with db.read() as session:
                rows = await keyword_search(
                    session, house_id, query.q, VectorFilter(frozenset(rooms), notes=False),
                    query.limit + 1, every_word=True, sender_id=senders.get(house_id),
                    before=before_at, newest_first=True)
            found.extend((d, house_id) for d, _ in rows)
        hits = await self.search.load([d for d, _ in found])
        hits.sort(key=lambda h: (h.created_at, h.doc_id), reverse=True)
        more = len(hits) > query.limit
        hits = hits[: query.limit]
        results = [self._view(h, query.q, "keyword") for h in hits]
        if query.before is None and query.sender is None:
            results.extend(await self._by_meaning(houses, query, {h.doc_id for h in hits}))
        return {"results": results,
                "nextBefore": hits[-1].item_id if more and hits else None}

    async def _senders(self, session: Any, sender: str | None, houses: list[str]
                       ) -> dict[str, str]:
        """The sender's user id in each house where it is known (by id or @handle)."""
        if sender is None:
            return {}
        handle = sender.lstrip("@").lower()
        rows = (await session.execute(select(HouseMember.house_id, HouseMember.user_id).where(
            HouseMember.house_id.in_(houses),
            (HouseMember.user_id == sender) | (HouseMember.handle == handle)))).all()
        return {h: u for h, u in rows}

    async def _by_meaning(self, houses: dict[str, set[str]], query: PeopleQuery,
                          seen: set[int]) -> list[dict[str, Any]]:
        extra: list[dict[str, Any]] = []
        for house_id, rooms in houses.items():
            if await self.search.vectors.refresh(house_id) == 0 and \
                    not self.search.vectors.has(house_id):
                continue
            try:
                embedded = await self.search.embed(house_id, [query.q])
            except AllModelsFailed:
                continue
            near = self.search.vectors.search(
                house_id, embedded.model, as_vector(embedded.vectors[0]),
                VectorFilter(frozenset(rooms), notes=False), MEANING_RESULTS + len(seen))
            ids = [d for d, s in near if s >= MEANING_MIN and d not in seen][:MEANING_RESULTS]
            scores = dict(near)
            for hit in await self.search.load(ids):
                hit.score = scores[hit.doc_id]
                extra.append(self._view(hit, query.q, "meaning"))
        return extra

    def _view(self, hit: Hit, q: str, match: str) -> dict[str, Any]:
        return {"messageId": hit.item_id, "roomId": hit.room_id, "roomName": hit.room_name,
                "seq": hit.seq, "sender": hit.sender, "content": hit.text,
                "createdAt": iso(hit.created_at), "match": match,
                "score": round(hit.score, 4) if match == "meaning" else None,
                **highlight(hit.text, q)}
