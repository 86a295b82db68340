"""The index follows the log, and the indexer holds across processes: an edit is searched as
edited and embedded again, a deletion leaves search, two indexers never embed one document
twice, and a failing embedding model is retried later and said."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.config import MemorySettings
from shoal.memory import EmbedJob, Indexer, MemorySearch, MemoryVector, SearchDoc, VectorFilter
from shoal.store.tables import utcnow
from tests.test_memory.conftest import World
from tests.test_memory.test_search import found


async def test_edits_and_deletions_reach_the_index(world: World) -> None:
    message = await world.say(world.public, "The ferret audit is on Tuesday")
    await world.indexed()
    r = await world.house.member.patch(f"/api/messages/{message['id']}",
                                       {"content": "The badger audit is on Tuesday"})
    assert r.status_code == 200, r.text
    assert found(await world.tool("memory_search", world.public, query="ferret audit")) \
        != ["The ferret audit is on Tuesday"]
    assert found(await world.tool("memory_search", world.public, query="badger"))[0] == \
        "The badger audit is on Tuesday"
    await world.indexed()  # the edit was queued for a new vector, and got one
    async with world.server.shoal.db.read() as session:
        doc = await session.scalar(select(SearchDoc.id).where(SearchDoc.item_id ==
                                                              message["id"]))
        assert await session.scalar(select(func.count()).select_from(MemoryVector).where(
            MemoryVector.doc_id == doc)) == 1
    r = await world.house.member.delete(f"/api/messages/{message['id']}")
    assert r.status_code in (200, 204), r.text
    answer = await world.tool("memory_search", world.public, query="badger audit",
                              min_score=0)
    assert "badger" not in " ".join(found(answer))
    r = await world.house.member.get("/api/search", params={"q": "badger"})
    assert r.json()["results"] == []


async def test_two_indexers_share_the_queue_without_doing_work_twice(world: World) -> None:
    shoal = world.server.shoal
    settings = MemorySettings(embed_batch=4)
    others = [Indexer(shoal.db, MemorySearch(shoal.db, settings, lambda: shoal.models),
                      settings) for _ in range(2)]
    for i in range(30):
        await world.say(world.public, f"otter census entry {i}")
    # Both (and the server's own indexer) drain the queue at once.
    for _ in range(100):
        done = await asyncio.gather(*(o.run_once() for o in others))
        if not any(done):
            break
    await world.indexed()
    async with shoal.db.read() as session:
        docs = (await session.scalars(select(SearchDoc.id).where(
            SearchDoc.house_id == world.house.id, SearchDoc.body.like("otter census%")))).all()
        vectors = (await session.scalars(select(MemoryVector.doc_id).where(
            MemoryVector.doc_id.in_(docs)))).all()
    assert len(docs) == 30 and sorted(vectors) == sorted(docs)


async def test_a_failing_model_is_retried_later_with_the_reason(world: World) -> None:
    shoal = world.server.shoal
    r = await world.house.owner.patch(f"/api/houses/{world.house.id}/settings",
                                      {"memory": {"embedding_model": "openai/nowhere"}})
    assert r.status_code == 200, r.text
    await world.say(world.public, "The lemur feeding moved to noon")
    async with shoal.db.read() as session:
        doc = await session.scalar(select(SearchDoc.id).where(
            SearchDoc.house_id == world.house.id, SearchDoc.body.like("The lemur%")))
    job = None
    for _ in range(200):
        async with shoal.db.read() as session:
            job = await session.get(EmbedJob, doc)
        if job is not None and job.error:
            break
        await asyncio.sleep(0.05)
    assert job is not None and job.attempts == 1 and "openai/nowhere" in (job.error or "")
    assert job.available_at is not None and job.available_at > utcnow() + timedelta(seconds=5)
    # Search still answers, by keyword, and says why there is no meaning side.
    answer = await world.tool("memory_search", world.public, query="lemur feeding")
    assert "keyword search only" in answer and found(answer) == ["The lemur feeding moved to noon"]
    async with shoal.db.write() as session:  # leave no failing job for the other tests
        await session.delete(await session.get(EmbedJob, doc))


async def test_another_processs_vectors_are_searched_at_once(world: World) -> None:
    # A second process's search holds its own copy of the house's vectors; the server's
    # indexer stores a new one, and the next search there finds it by meaning, though that
    # process would look at the database on its own only once an hour.
    shoal = world.server.shoal
    settings = MemorySettings(vector_refresh_seconds=3600)
    elsewhere = MemorySearch(shoal.db, settings, lambda: shoal.models)
    where = VectorFilter(frozenset({world.public}), here=world.public, agent=world.bot_id)
    await world.say(world.public, "The otter pool is cleaned on Fridays")
    await world.indexed()
    before = await elsewhere.search(world.house.id, where, "when do we deploy", max_results=5,
                                    min_score=0)
    assert "Redeployment happens every Thursday evening" not in [h.text for h in before.hits]
    await world.say(world.public, "Redeployment happens every Thursday evening")
    await world.indexed()
    after = await elsewhere.search(world.house.id, where, "when do we deploy", max_results=5,
                                   min_score=0)
    hit = next(h for h in after.hits if h.text == "Redeployment happens every Thursday evening")
    assert hit.keyword == 0 and hit.vector > 0  # found by meaning: no word in common


class HeldIndexer(Indexer):
    """An indexer whose vector write waits, inside its transaction, until let go."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.inside = asyncio.Event()
        self.go = asyncio.Event()

    async def _write(self, session: AsyncSession, house_id: str, model: str,
                     vectors: list[tuple[int, list[float]]]) -> None:
        await super()._write(session, house_id, model, vectors)
        self.inside.set()
        await self.go.wait()


async def test_a_vector_committed_after_a_newer_one_is_still_searched(world: World) -> None:
    # Two indexers store vectors of one house; the one that wrote first commits last. A search
    # in between must not step past the first one's vector for good (on PostgreSQL, ids are
    # taken at insert and committed in any order unless the writers take turns).
    shoal = world.server.shoal
    settings = MemorySettings()
    slow, fast = (HeldIndexer(shoal.db, MemorySearch(shoal.db, settings, lambda: shoal.models),
                              settings) for _ in range(2))
    elsewhere = MemorySearch(shoal.db, settings, lambda: shoal.models)
    where = VectorFilter(frozenset({world.public}), here=world.public, agent=world.bot_id)
    late, other = "The walrus drills begin before sunrise", "Invoices are filed in March"
    for text in (late, other):
        await world.say(world.public, text)
    await world.indexed()
    async with shoal.db.write() as session:
        docs = dict((await session.execute(select(SearchDoc.body, SearchDoc.id).where(
            SearchDoc.house_id == world.house.id,
            SearchDoc.body.in_([late, other])))).tuples().all())
        # The late one waits for its vector; both jobs are leased to the two indexers.
        await session.execute(delete(MemoryVector).where(MemoryVector.doc_id == docs[late]))
        for text, owner in ((late, slow), (other, fast)):
            session.add(EmbedJob(doc_id=docs[text], lease_owner=owner.name,
                                 lease_expires_at=utcnow() + timedelta(minutes=5)))
    embedded = await elsewhere.embed(world.house.id, [late, other])
    query = "when are the early morning walrus exercises"
    before = await elsewhere.search(world.house.id, where, query, max_results=5, min_score=0)
    assert late not in [h.text for h in before.hits if h.vector > 0]
    fast.go.set()
    first = asyncio.create_task(slow._store(world.house.id, embedded.model,
                                            [(docs[late], embedded.vectors[0])]))
    await slow.inside.wait()
    second = asyncio.create_task(fast._store(world.house.id, embedded.model,
                                             [(docs[other], embedded.vectors[1])]))
    await asyncio.sleep(0.3)  # the second writer commits now if nothing makes it wait
    await elsewhere.search(world.house.id, where, query, max_results=5, min_score=0)
    slow.go.set()
    assert await asyncio.gather(first, second) == [1, 1]
    after = await elsewhere.search(world.house.id, where, query, max_results=5, min_score=0)
    hit = next(h for h in after.hits if h.text == late)
    assert hit.vector > 0
