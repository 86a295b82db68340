"""The vector side of search: each process keeps the stored vectors of the houses it searched
in memory (numpy, float32) and scans them exactly, which bench/memory.py measured fast enough
at 100,000+ documents (pgvector is not assumed, and this Python's sqlite3 cannot load
sqlite-vec). The vectors are held one column per document, so a query's nonzero dimensions
are contiguous rows: a sparse query (the offline embedder's: a few words hash to a few dozen
of its 256 dimensions) reads only those rows, a dense one reads them all. A search compares
the house's newest stored vector id with the copy's and loads what is new, so vectors written
by any process are found at the next search (a house's vector writers take turns, so its
ids commit in order: `indexer.take_turn`); a deleted document's stale row is dropped when
the results are read back from the database. At most `max_rows` per house are held: the
newest.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlalchemy import select

from shoal.memory.tables import MemoryVector, SearchDoc

if TYPE_CHECKING:
    from collections.abc import Sequence

    from numpy.typing import NDArray

    from shoal.store import Database

SCOPES = {"history": 0, "room": 1, "house": 2, "agent": 3}
MASKS_KEPT = 64  # reader filters remembered per house
LOAD_BATCH = 5000
SPARSE_SHARE = 4  # a query with at most 1/4 of its dimensions nonzero is scanned by those


@dataclass(frozen=True)
class VectorFilter:
    """Which documents a search may return: messages of `rooms`; room notes of `here`;
    house notes; the `agent`'s own notes saved in one of `rooms`."""

    rooms: frozenset[str]
    here: str | None = None
    agent: str | None = None
    notes: bool = True
    history: bool = True


def as_vector(values: Sequence[float]) -> NDArray[np.float32]:
    """A unit float32 vector (zeros stay zeros)."""
    vec = np.asarray(values, dtype=np.float32)
    norm = float(np.linalg.norm(vec))
    return vec / norm if norm > 0 else vec


def similarities(columns: NDArray[np.float32], query: NDArray[np.float32]
                 ) -> NDArray[np.float32]:
    """The query's dot product with every column. A query with few nonzero dimensions adds up
    only their rows (the zeros add nothing): a tenth of the memory read of a full scan."""
    dims = np.flatnonzero(query)
    if len(dims) == 0:
        return np.zeros(columns.shape[1], np.float32)
    if len(dims) > len(query) // SPARSE_SHARE:
        full: NDArray[np.float32] = query @ columns
        return full
    scores: NDArray[np.float32] = columns[dims[0]] * query[dims[0]]
    for d in dims[1:]:
        scores += columns[d] * query[d]
    return scores


@dataclass
class _House:
    """One house's vectors, in arrays that grow by doubling."""

    watermark: int = 0
    checked_at: float = 0.0  # time.monotonic() of the last look at the database
    count: int = 0
    dims: int = 0
    columns: NDArray[np.float32] = field(  # dims x capacity: document i is column i
        default_factory=lambda: np.zeros((0, 0), np.float32))
    doc: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))
    room: NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    scope: NDArray[np.int8] = field(default_factory=lambda: np.zeros(0, np.int8))
    agent: NDArray[np.int32] = field(default_factory=lambda: np.zeros(0, np.int32))
    model: NDArray[np.int16] = field(default_factory=lambda: np.zeros(0, np.int16))
    position: dict[int, int] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    version: int = 0  # grows whenever rows change, so cached filters are redone
    masks: dict[tuple[VectorFilter, int], tuple[int, NDArray[np.intp]]] = field(
        default_factory=dict)


class VectorIndex:
    """Exact cosine search over a house's stored vectors, kept in memory per process."""

    def __init__(self, db: Database, max_rows: int = 250_000,
                 refresh_seconds: float = 1.0) -> None:
        self.db = db
        self.max_rows = max_rows
        # How stale this process's copy may be about vectors other processes wrote; this
        # process's own indexer marks a house changed, which is seen at once.
        self.refresh_seconds = refresh_seconds
        self._houses: dict[str, _House] = {}
        self._codes: dict[str, int] = {"": 0}  # room, agent and model ids as small integers

    def _code(self, value: str | None) -> int:
        if value is None:
            return 0
        found = self._codes.get(value)
        if found is None:
            found = self._codes[value] = len(self._codes)
        return found

    def changed(self, house_id: str) -> None:
        """Vectors of the house were written: look again at the next search."""
        house = self._houses.get(house_id)
        if house is not None:
            house.checked_at = 0.0

    async def refresh(self, house_id: str, newest: int | None = None) -> int:
        """Load the house's vectors written since the last look; answers how many. With
        `newest` (the id of the house's newest stored vector, read by the caller), only if
        there are any; without, at most every `refresh_seconds` unless this process wrote
        some."""
        house = self._houses.setdefault(house_id, _House())
        if newest is not None:
            if newest <= house.watermark:
                return 0
        elif time.monotonic() - house.checked_at < self.refresh_seconds:
            return 0
        loaded = 0
        async with house.lock:
            house.checked_at = time.monotonic()
            while True:
                async with self.db.read() as session:
                    rows = (await session.execute(
                        select(MemoryVector.id, MemoryVector.doc_id, MemoryVector.model,
                               MemoryVector.vector, SearchDoc.room_id, SearchDoc.scope,
                               SearchDoc.agent_id)
                        .join(SearchDoc, SearchDoc.id == MemoryVector.doc_id)
                        .where(MemoryVector.house_id == house_id,
                               MemoryVector.id > house.watermark)
                        .order_by(MemoryVector.id).limit(LOAD_BATCH))).all()
                if not rows:
                    return loaded
                self._put_rows(house, rows)
                house.watermark = rows[-1].id
                loaded += len(rows)
                if len(rows) < LOAD_BATCH:
                    return loaded

    def _put_rows(self, house: _House, rows: Sequence[Any]) -> None:
        """Rows of (doc_id, model, vector, room_id, scope, agent_id): new documents of the
        house's size, within `max_rows`, are appended in one block; others one by one."""
        dims = house.dims or len(rows[0].vector) // 4
        if (house.count + len(rows) > self.max_rows
                or any(len(r.vector) != 4 * dims or r.doc_id in house.position for r in rows)):
            for r in rows:
                self._put(house, r.doc_id, r.model, r.vector, r.room_id, r.scope, r.agent_id)
            return
        house.dims = dims
        while house.count + len(rows) > len(house.doc):
            self._grow(house)
        at, end = house.count, house.count + len(rows)
        house.columns[:, at:end] = np.frombuffer(
            b"".join(r.vector for r in rows), dtype="<f4").reshape(len(rows), dims).T
        house.doc[at:end] = [r.doc_id for r in rows]
        house.room[at:end] = [self._code(r.room_id) for r in rows]
        house.scope[at:end] = [SCOPES.get(r.scope, 0) for r in rows]
        house.agent[at:end] = [self._code(r.agent_id) for r in rows]
        house.model[at:end] = [self._code(r.model) for r in rows]
        house.position.update(zip((r.doc_id for r in rows), range(at, end), strict=True))
        house.count = end
        house.version += 1

    def _put(self, house: _House, doc_id: int, model: str, raw: bytes, room_id: str | None,
             scope: str, agent_id: str | None) -> None:
        vec = np.frombuffer(raw, dtype="<f4")
        if house.dims == 0:
            house.dims = len(vec)
        if len(vec) != house.dims:  # another model's size: a house that changed model
            self._reset(house, len(vec))
        at = house.position.get(doc_id)
        if at is None:
            if house.count >= self.max_rows:
                self._drop_oldest(house, max(1, self.max_rows // 10))
            if house.count == len(house.doc):
                self._grow(house)
            at = house.count
            house.count += 1
            house.position[doc_id] = at
        house.version += 1
        house.columns[:, at] = vec
        house.doc[at] = doc_id
        house.room[at] = self._code(room_id)
        house.scope[at] = SCOPES.get(scope, 0)
        house.agent[at] = self._code(agent_id)
        house.model[at] = self._code(model)

    def _grow(self, house: _House) -> None:
        size = max(1024, 2 * len(house.doc))
        columns = np.zeros((house.dims, size), np.float32)
        if house.count:
            columns[:, : house.count] = house.columns[:, : house.count]
        house.columns = columns
        for name, dtype in (("doc", np.int64), ("room", np.int32), ("scope", np.int8),
                            ("agent", np.int32), ("model", np.int16)):
            grown = np.zeros(size, dtype)
            grown[: house.count] = getattr(house, name)[: house.count]
            setattr(house, name, grown)

    def _drop_oldest(self, house: _House, how_many: int) -> None:
        keep = slice(how_many, house.count)
        kept = house.count - how_many
        house.columns[:, :kept] = house.columns[:, keep].copy()
        for name in ("doc", "room", "scope", "agent", "model"):
            array = getattr(house, name)
            array[:kept] = array[keep].copy()
        house.count -= how_many
        house.version += 1
        house.position = {int(d): i for i, d in enumerate(house.doc[: house.count])}

    def _reset(self, house: _House, dims: int) -> None:
        fresh = _House(watermark=house.watermark, dims=dims, lock=house.lock,
                       version=house.version + 1)
        for name in ("count", "dims", "columns", "doc", "room", "scope", "agent", "model",
                     "position", "version", "masks"):
            setattr(house, name, getattr(fresh, name))

    def search(self, house_id: str, model: str, query: NDArray[np.float32],
               where: VectorFilter, limit: int) -> list[tuple[int, float]]:
        """The `limit` documents nearest the query among those `where` allows, as (document
        id, cosine similarity), best first. Call `refresh` first to see new vectors."""
        house = self._houses.get(house_id)
        if house is None or house.count == 0 or len(query) != house.dims:
            return []
        n = house.count
        code = self._codes.get(model)
        if code is None:
            return []
        candidates = self._candidates(house, where, code)
        if candidates.size == 0:
            return []
        # Every document's score, then the allowed ones' (gathering them first copies them).
        scores = similarities(house.columns[:, :n], query)[candidates]
        top = min(limit, candidates.size)
        best = np.argpartition(-scores, top - 1)[:top]
        best = best[np.argsort(-scores[best])]
        return [(int(house.doc[candidates[i]]), float(scores[i])) for i in best]

    def _candidates(self, house: _House, where: VectorFilter, code: int) -> NDArray[np.intp]:
        """The rows the filter allows, kept until the house's rows change (an agent searches
        from the same room again and again)."""
        key = (where, code)
        cached = house.masks.get(key)
        if cached is not None and cached[0] == house.version:
            return cached[1]
        n = house.count
        rooms = np.fromiter((self._codes[r] for r in where.rooms if r in self._codes),
                            dtype=np.int32)
        room = house.room[:n]
        scope = house.scope[:n]
        in_rooms = np.isin(room, rooms)
        allowed = np.zeros(n, dtype=bool)
        if where.history:
            allowed |= (scope == SCOPES["history"]) & in_rooms
        if where.notes:
            allowed |= scope == SCOPES["house"]
            if where.here is not None and where.here in self._codes:
                allowed |= (scope == SCOPES["room"]) & (room == self._codes[where.here])
            if where.agent is not None and where.agent in self._codes:
                allowed |= ((scope == SCOPES["agent"]) & in_rooms
                            & (house.agent[:n] == self._codes[where.agent]))
        allowed &= house.model[:n] == code
        candidates = np.flatnonzero(allowed)
        if len(house.masks) >= MASKS_KEPT:
            house.masks.clear()
        house.masks[key] = (house.version, candidates)
        return candidates

    def scores(self, house_id: str, model: str, query: NDArray[np.float32],
               doc_ids: Sequence[int]) -> dict[int, float]:
        """The similarity of given documents to the query, for those with a vector here."""
        house = self._houses.get(house_id)
        code = self._codes.get(model)
        if house is None or code is None or len(query) != house.dims:
            return {}
        found = {}
        for doc_id in doc_ids:
            at = house.position.get(doc_id)
            if at is not None and house.model[at] == code:
                found[doc_id] = float(query @ house.columns[:, at])
        return found

    def has(self, house_id: str) -> bool:
        """Whether this process holds any vector of the house."""
        house = self._houses.get(house_id)
        return house is not None and house.count > 0

    def forget(self, house_id: str) -> None:
        """Drop a house's in-memory copy (it reloads at the next search)."""
        self._houses.pop(house_id, None)
