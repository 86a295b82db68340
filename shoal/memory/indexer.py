"""The indexer: embeds new and changed documents off the request path. It claims
`embed_jobs` rows with a lease (any number of processes may run one; a dead one's lease
expires and another takes the rows), embeds a batch per house with the house's embedding
chain, and writes each vector only if it still holds the job's lease (a document edited
meanwhile got a fresh job). A failing model is retried with backoff and logged."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections import defaultdict
from datetime import timedelta
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import and_, delete, func, insert, or_, select, update

from shoal.llm import AllModelsFailed
from shoal.memory.tables import EmbedJob, MemoryVector, SearchDoc
from shoal.store.tables import utcnow

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from shoal.config import MemorySettings
    from shoal.memory.search import MemorySearch
    from shoal.store import Database

log = logging.getLogger("shoal.memory")
MAX_BACKOFF_SECONDS = 600
VECTOR_LOCK = 7301  # the advisory lock class of a house's vector writes (PostgreSQL)


class Indexer:
    """Turns queued documents into stored vectors, in the background of a worker process."""

    def __init__(self, db: Database, search: MemorySearch, settings: MemorySettings) -> None:
        self.db = db
        self.search = search
        self.settings = settings
        self.name = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._loop: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    async def start(self) -> None:
        """Start indexing in the background."""
        self._loop = asyncio.create_task(self._run(), name="shoal-memory-indexer")

    async def stop(self) -> None:
        """Stop indexing; claimed jobs' leases expire and another process takes them."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)

    def wake(self) -> None:
        """Look for work now."""
        self._wake.set()

    async def _run(self) -> None:
        while True:
            try:
                # A full batch means more wait: claim again at once. Otherwise the next look
                # is after the poll interval, so a steady trickle of messages is embedded in
                # batches, not one or two at a time in transactions that keep the writers of
                # the message log waiting (at 50 messages a second that tripled its latency).
                while await self.run_once() >= self.settings.embed_batch:
                    pass
            except Exception:
                log.exception("memory indexing failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.embed_poll_seconds)
            except TimeoutError:
                pass
            self._wake.clear()

    async def run_once(self) -> int:
        """Claim one batch and embed it; answers how many documents got a vector."""
        claimed = await self._claim()
        if not claimed:
            return 0
        async with self.db.read() as session:
            docs = (await session.execute(select(SearchDoc.id, SearchDoc.house_id, SearchDoc.body)
                                          .where(SearchDoc.id.in_(claimed)))).all()
        by_house: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for doc_id, house_id, body in docs:
            by_house[house_id].append((doc_id, body))
        done = 0
        for house_id, items in by_house.items():
            try:
                embedded = await self.search.embed(house_id, [b for _, b in items])
            except AllModelsFailed as exc:
                await self._retry_later([d for d, _ in items], str(exc))
                continue
            done += await self._store(house_id, embedded.model,
                                      [(d, v) for (d, _), v in zip(items, embedded.vectors,
                                                                   strict=True)])
        return max(done, 1)

    async def _claim(self) -> list[int]:
        now = utcnow()
        async with self.db.write() as session:
            ids = list((await session.scalars(
                select(EmbedJob.doc_id)
                .where(or_(EmbedJob.available_at.is_(None), EmbedJob.available_at <= now),
                       or_(EmbedJob.lease_expires_at.is_(None), EmbedJob.lease_expires_at < now))
                .order_by(EmbedJob.doc_id).limit(self.settings.embed_batch)
                .with_for_update(skip_locked=True))).all())
            if ids:
                await session.execute(
                    update(EmbedJob).where(EmbedJob.doc_id.in_(ids)).values(
                        lease_owner=self.name,
                        lease_expires_at=now + timedelta(
                            seconds=self.settings.embed_lease_seconds)))
        return ids

    async def _store(self, house_id: str, model: str, vectors: list[tuple[int, list[float]]]
                     ) -> int:
        async with self.db.write() as session:
            if not self.db.is_sqlite:
                await take_turn(session, house_id)
            mine = set((await session.scalars(select(EmbedJob.doc_id).where(
                EmbedJob.doc_id.in_([d for d, _ in vectors]),
                EmbedJob.lease_owner == self.name))).all())
            if not mine:
                return 0
            await self._write(session, house_id, model, [(d, v) for d, v in vectors if d in mine])
            await session.execute(delete(EmbedJob).where(
                and_(EmbedJob.doc_id.in_(mine), EmbedJob.lease_owner == self.name)))
        self.search.vectors.changed(house_id)
        return len(mine)

    async def _write(self, session: AsyncSession, house_id: str, model: str,
                     vectors: list[tuple[int, list[float]]]) -> None:
        await session.execute(delete(MemoryVector).where(
            MemoryVector.doc_id.in_([d for d, _ in vectors])))
        await session.execute(insert(MemoryVector), [
            {"doc_id": d, "house_id": house_id, "model": model,
             "vector": np.asarray(v, dtype="<f4").tobytes()} for d, v in vectors])

    async def _retry_later(self, doc_ids: list[int], why: str) -> None:
        log.warning("could not embed %d documents; retrying later: %s", len(doc_ids), why)
        async with self.db.write() as session:
            jobs = (await session.scalars(select(EmbedJob).where(
                EmbedJob.doc_id.in_(doc_ids), EmbedJob.lease_owner == self.name))).all()
            for job in jobs:
                job.attempts += 1
                wait = min(MAX_BACKOFF_SECONDS, 5 * 2 ** min(job.attempts, 10))
                job.available_at = utcnow() + timedelta(seconds=wait)
                job.lease_owner, job.lease_expires_at, job.error = None, None, why[:500]


async def take_turn(session: AsyncSession, house_id: str) -> None:
    """PostgreSQL: a house's vector writes take turns until their transaction ends, so they
    commit in the order of their ids. A search that loaded a house's vectors up to id N
    (`VectorIndex.refresh`) has then missed none below N: without turns, a writer that took
    id N-1 and committed after one that took N would go unseen until a restart."""
    await session.execute(select(func.pg_advisory_xact_lock(VECTOR_LOCK,
                                                            func.hashtext(house_id))))
