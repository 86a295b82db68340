"""Memory search at the size of a busy house: 100,000 room messages and 10,000 notes.

Loads one house (bulk inserts; the database triggers fill the keyword index as they would for
live messages), embeds every document with the indexer and the offline embedder (documents
per second, and the bare embedder's rate), then times, over the same queries:

- memory_search as an agent calls it (scope, keyword query, query embedding, vector scan,
  merge, reading the hits back, the answer's text);
- a bare keyword query (FTS5 MATCH ... ORDER BY bm25 on SQLite; tsvector @@ ... ORDER BY
  ts_rank_cd on PostgreSQL), the baseline for the keyword side;
- a bare vector query (the in-memory index's exact scan with the reader's filter), the
  baseline for the vector side, beside a scan of every dimension of every vector; and, when
  `usearch` is installed, an HNSW index over the same vectors (build time, query time, recall
  of the exact top 10) to say whether an approximate index pays.

Prints p50 and p99 of each and memory_search's ratio to the baselines, for `--rounds` rounds
of the same queries over the same data (with the machine's load average), to show the spread.

    .venv/bin/python bench/memory.py [--backend sqlite|postgres|both] [--messages 100000]
        [--notes 10000] [--queries 300] [--rounds 3] [--no-hnsw]
        [--pg-url postgresql+asyncpg://...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select, text

from shoal.auth.accounts import create_bot
from shoal.bootstrap import ensure_home
from shoal.config import Settings
from shoal.core import Shoal
from shoal.ids import new_id
from shoal.llm import offline_embedding
from shoal.memory import EmbedJob, MemoryNote, SearchDoc
from shoal.memory.vectors import VectorFilter, as_vector
from shoal.rooms.houses import add_house_member
from shoal.rooms.rooms import create_room, join_room
from shoal.store.tables import Message, utcnow
from shoal.tools.base import ToolScope
from shoal.tools.memory import MemoryTools

ROOMS = 20
BATCH = 5000
WORDS = ("deploy release billing invoice customer ticket outage database staging migration "
         "schedule meeting review design budget hiring onboarding laptop password vpn "
         "certificate backup restore latency dashboard alert pager incident postmortem "
         "roadmap quarter launch pricing contract vendor security audit compliance kitchen "
         "lunch coffee printer office travel expense report friday monday thursday weekly "
         "monthly sprint standup retro feature bug crash login signup search export import "
         "report chart metric cache queue worker scheduler cron webhook token api gateway "
         "mobile android ios browser firefox chrome safari accessibility translation").split()


def vocabulary() -> tuple[list[str], list[float]]:
    """A vocabulary of 5,100 words and Zipf weights (the k-th most common word is used 1/k as
    often as the first), as in natural text; made-up words after the real ones."""
    rng = random.Random(3)
    syllables = ["ka", "lo", "mi", "ter", "an", "sul", "ve", "ro", "pin", "da", "gu", "fel"]
    made = {"".join(rng.choices(syllables, k=rng.randint(2, 4))) for _ in range(8000)}
    words = WORDS + sorted(made - set(WORDS))[:5000]
    return words, [1 / (rank + 1) for rank in range(len(words))]


VOCABULARY, WEIGHTS = vocabulary()


def sentence(rng: random.Random, low: int = 8, high: int = 20) -> str:
    """A message: 8-20 words drawn with Zipf weights."""
    return " ".join(rng.choices(VOCABULARY, WEIGHTS, k=rng.randint(low, high)))


def query(rng: random.Random) -> str:
    """What an agent searches for: 1-3 content words (not the 20 most common, which act as
    stop words here; ranks 20-2,000, so from a few thousand matches down to a few dozen)."""
    return " ".join(rng.sample(VOCABULARY[20:2000], rng.randint(1, 3)))


def pct(values: list[float]) -> tuple[float, float]:
    """p50 and p99 in milliseconds."""
    ordered = sorted(values)
    return (statistics.median(ordered) * 1000,
            ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000)


async def load(shoal: Shoal, messages: int, notes: int) -> tuple[Any, str, list[str]]:
    """A house with ROOMS public rooms, a bot, the messages and the notes."""
    home = await ensure_home(shoal.db, owner_username="bencher")
    rng = random.Random(7)
    async with shoal.db.write() as session:
        bot = await create_bot(session, "Memory Bench", None, verified=True)
        await add_house_member(session, home.house.id, bot, "member")
        rooms = [(await create_room(session, home.house.id, f"bench-{i}", bot.id)).id
                 for i in range(ROOMS)]
        for room_id in rooms:
            await join_room(session, room_id, bot.id)
    started = time.perf_counter()
    seqs = dict.fromkeys(rooms, 0)
    for at in range(0, messages, BATCH):
        rows = []
        for _ in range(min(BATCH, messages - at)):
            room_id = rng.choice(rooms)
            seqs[room_id] += 1
            rows.append({"id": new_id(), "room_id": room_id, "seq": seqs[room_id],
                         "sender_id": bot.id, "type": "chat", "content": sentence(rng),
                         "meta": {}, "mentions": [], "created_at": utcnow()})
        async with shoal.db.write() as session:
            await session.execute(insert(Message), rows)
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    for at in range(0, notes, BATCH):
        rows, docs = [], []
        for _ in range(min(BATCH, notes - at)):
            note_id, room_id, body = new_id(), rng.choice(rooms), sentence(rng, 6, 14)
            scope = rng.choice(("agent", "room", "house"))
            rows.append({"id": note_id, "house_id": home.house.id, "room_id": room_id,
                         "agent_id": bot.id, "scope": scope, "text": body, "tags": [],
                         "created_by": bot.id, "created_at": utcnow(), "updated_at": utcnow()})
            docs.append({"kind": "note", "item_id": note_id, "house_id": home.house.id,
                         "room_id": room_id, "scope": scope,
                         "agent_id": bot.id if scope == "agent" else None, "body": body,
                         "created_at": utcnow()})
        async with shoal.db.write() as session:
            await session.execute(insert(MemoryNote), rows)
            await session.execute(insert(SearchDoc), docs)
    print(f"  loaded {messages:,} messages in {loaded:.1f} s and {notes:,} notes in "
          f"{time.perf_counter() - started:.1f} s (index kept by the triggers)")
    return bot, home.house.id, rooms


async def embed_all(shoal: Shoal) -> None:
    """Drain the embedding queue with the indexer; print documents per second."""
    async with shoal.db.read() as session:
        queued = await session.scalar(select(func.count()).select_from(EmbedJob)) or 0
    started = time.perf_counter()
    while await shoal.indexer.run_once():
        pass
    took = time.perf_counter() - started
    sample = [sentence(random.Random(i)) for i in range(5000)]
    bare = time.perf_counter()
    for s in sample:
        offline_embedding(s)
    bare = time.perf_counter() - bare
    print(f"  embedded {queued:,} documents in {took:.1f} s: {queued / took:,.0f} docs/s "
          f"through the indexer (claim, embed, store); the bare offline embedder does "
          f"{len(sample) / bare:,.0f} texts/s")


async def measure(shoal: Shoal, bot: Any, house_id: str, rooms: list[str], queries: int,
                  rounds: int, hnsw: bool) -> None:
    rng = random.Random(11)
    asked = [query(rng) for _ in range(queries)]
    tools = MemoryTools(shoal.db, shoal.memory, shoal.settings.memory)
    scope = ToolScope(bot, house_id, rooms[0])
    started = time.perf_counter()
    loaded = await shoal.memory.vectors.refresh(house_id)
    print(f"  first search loads {loaded:,} vectors into memory in "
          f"{time.perf_counter() - started:.2f} s (once per process and house)")
    sqlite = shoal.db.is_sqlite
    bare_sql = text(
        "SELECT rowid, bm25(search_fts) FROM search_fts WHERE search_fts MATCH :q "
        "ORDER BY bm25(search_fts) LIMIT 24" if sqlite else
        "SELECT id, ts_rank_cd(tsv, q) AS r FROM search_docs, to_tsquery('english', :q) q "
        "WHERE tsv @@ q ORDER BY r DESC LIMIT 24")
    where = VectorFilter(frozenset(rooms), here=rooms[0], agent=bot.id)
    model = shoal.settings.memory.embedding_model
    house = shoal.memory.vectors._houses[house_id]
    every = house.columns[:, : house.count]
    keyword = "FTS5 bm25" if sqlite else "tsvector ts_rank_cd"
    for q in asked[:20]:  # warm-up
        await tools.run_search(scope, {"query": q})
    for round_ in range(1, rounds + 1):
        tool_times, fts_times, vec_times, dense_times = [], [], [], []
        load = os.getloadavg()[0]
        for q in asked:
            t0 = time.perf_counter()
            await tools.run_search(scope, {"query": q})
            tool_times.append(time.perf_counter() - t0)
            match = (" OR " if sqlite else " | ").join(q.split())
            t0 = time.perf_counter()
            async with shoal.db.read() as session:
                (await session.execute(bare_sql, {"q": match})).all()
            fts_times.append(time.perf_counter() - t0)
            vec = as_vector(offline_embedding(q))
            t0 = time.perf_counter()
            shoal.memory.vectors.search(house_id, model, vec, where, 24)
            vec_times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            np.argpartition(-(vec @ every), 23)[:24]
            dense_times.append(time.perf_counter() - t0)
        search50, search99 = pct(tool_times)
        fts50, fts99 = pct(fts_times)
        vec50, vec99 = pct(vec_times)
        dense50, dense99 = pct(dense_times)
        print(f"  round {round_} (load average {load:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after):")
        print(f"    memory_search            p50 {search50:6.1f} ms  p99 {search99:6.1f} ms")
        print(f"    bare {keyword:<19} p50 {fts50:6.1f} ms  p99 {fts99:6.1f} ms")
        print(f"    bare vector query        p50 {vec50:6.1f} ms  p99 {vec99:6.1f} ms")
        print(f"    (every dimension, no filter: p50 {dense50:.1f} ms  p99 {dense99:.1f} ms)")
        print(f"    memory_search / (keyword + vector): p50 {search50 / (fts50 + vec50):.2f}x, "
              f"p99 {search99 / (fts99 + vec99):.2f}x")
    if hnsw:
        await approximate(shoal, house_id, asked)


async def approximate(shoal: Shoal, house_id: str, asked: list[str]) -> None:
    """The same vectors in a usearch HNSW index, if usearch is installed."""
    try:
        from usearch.index import Index
    except ImportError:
        print("  (usearch not installed: no HNSW comparison)")
        return
    house = shoal.memory.vectors._houses[house_id]
    matrix = np.ascontiguousarray(house.columns[:, : house.count].T)
    started = time.perf_counter()
    index = Index(ndim=matrix.shape[1], metric="ip", dtype="f32")
    index.add(np.arange(house.count), matrix)
    built = time.perf_counter() - started
    times, recall = [], []
    for q in asked[:100]:
        vec = as_vector(offline_embedding(q))
        t0 = time.perf_counter()
        found = index.search(vec, 10)
        times.append(time.perf_counter() - t0)
        exact = set(np.argpartition(-(matrix @ vec), 9)[:10].tolist())
        recall.append(len(exact & set(found.keys.tolist())) / 10)
    p50, p99 = pct(times)
    print(f"  usearch HNSW (unfiltered, 100 queries): build {built:.1f} s, p50 {p50:.2f} ms, "
          f"p99 {p99:.2f} ms, recall@10 {statistics.mean(recall):.2f}")


async def run(backend: str, url: str | None, messages: int, notes: int, queries: int,
              rounds: int, hnsw: bool) -> None:
    print(f"{backend}:")
    with tempfile.TemporaryDirectory() as data_dir:
        settings = Settings(data_dir=Path(data_dir), secret="bench-" + "x" * 40, role="api",
                            database_url=url)
        shoal = Shoal(settings)
        await shoal.start()
        try:
            if not shoal.db.is_sqlite:
                async with shoal.db.write() as session:
                    await session.execute(text("TRUNCATE search_docs, memory_notes, messages "
                                               "CASCADE"))
            bot, house_id, rooms = await load(shoal, messages, notes)
            async with shoal.db.engine.connect() as conn:  # what autovacuum does after a load
                await conn.execute(text("ANALYZE"))
            await embed_all(shoal)
            await measure(shoal, bot, house_id, rooms, queries, rounds, hnsw)
        finally:
            await shoal.stop()


async def main(args: argparse.Namespace) -> None:
    if args.backend in ("sqlite", "both"):
        await run("SQLite", None, args.messages, args.notes, args.queries, args.rounds,
                  not args.no_hnsw)
    if args.backend in ("postgres", "both"):
        await run("PostgreSQL", args.pg_url, args.messages, args.notes, args.queries,
                  args.rounds, not args.no_hnsw)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="sqlite")
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--notes", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds over the same data")
    parser.add_argument("--no-hnsw", action="store_true", help="skip the usearch comparison")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/"
                                            "bench_memory")
    sys.exit(asyncio.run(main(parser.parse_args())))
