"""Append benchmark: what one message costs Shoal to store, in-process, without sockets.

Posts M messages one after another into a room of a fresh SQLite installation (each its own
group commit, as at a low rate) and prints the CPU per post (all threads: the event loop,
SQLite's, and the memory indexer's until it has embedded them all), the statements a post
runs, and, as the baseline measured in the same run, one row inserted and committed per
transaction through the same engine. The fan-out benchmark's per-message cost is this plus
the sockets'.

    python bench/append.py [--messages 3000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.util import await_

from shoal.auth.accounts import create_person
from shoal.config import Settings
from shoal.core import Shoal
from shoal.rooms.houses import create_house
from shoal.rooms.rooms import create_room

WARMUP = 100


async def cpu_per_call(calls: int, call: Any, then: Any = None) -> float:
    """Process CPU milliseconds per awaited call, over `calls` calls in a row and `then`."""
    started = time.process_time()
    for i in range(calls):
        await call(i)
    if then is not None:
        await then()
    return (time.process_time() - started) / calls * 1000


def label(statement: str) -> str:
    """A statement's verb and table: "SELECT rooms", "INSERT messages"."""
    words = statement.split()
    for keyword in ("FROM", "INTO", "UPDATE"):
        if keyword in words[:-1]:
            return f"{words[0]} {words[words.index(keyword) + 1]}"
    return words[0]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3, help="posts and baseline, alternated")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        shoal = Shoal(Settings(data_dir=data_dir, secret="bench-secret-bench-secret"))
        statements: list[str] = []
        counting = False

        def count(statement: str) -> None:
            """On the database thread, what SQLite runs: each statement once however many
            steps it takes, and not what its triggers run (the search index's)."""
            if counting and not statement.startswith("--") and (
                    not statements or statements[-1] != statement):
                statements.append(statement)

        def traced(dbapi_connection: Any, _record: Any) -> None:
            await_(dbapi_connection.driver_connection.set_trace_callback(count))

        event.listen(shoal.db.engine.sync_engine, "connect", traced)
        await shoal.start()
        try:
            async with shoal.db.write() as session:
                person = await create_person(session, "poster", "not-used-here", "Poster")
                house = await create_house(session, "Bench", person)
                room = await create_room(session, house.id, "bench", person.id)
            async with shoal.db.engine.begin() as connection:
                await connection.execute(text(
                    "CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, body TEXT)"))

            async def post(i: int) -> None:
                await shoal.chat.post(person, room.id, f"message {i} about the deploy plan")

            async def insert(i: int) -> None:
                async with shoal.db.engine.begin() as connection:
                    await connection.execute(text("INSERT INTO bench_rows (body) VALUES (:b)"),
                                             {"b": f"message {i} about the deploy plan"})

            async def embedded() -> None:  # the indexer's share of the posts
                while await shoal.indexer.run_once():
                    pass

            for i in range(WARMUP):
                await post(i)
                await insert(i)
            await embedded()
            counting = True
            await post(0)
            counting = False
            print(f"append: {args.messages} posts in a row, one per transaction; a post runs "
                  + ", ".join(label(statement) for statement in statements))
            ratios = []
            for _ in range(args.rounds):
                posts = await cpu_per_call(args.messages, post, embedded)
                rows = await cpu_per_call(args.messages, insert)
                ratios.append(posts / rows)
                print(f"post {posts:.3f} ms CPU (with its embedding)   baseline (insert one "
                      f"row and commit) {rows:.3f} ms   post/baseline {posts / rows:.2f}")
            print(f"over {args.rounds} rounds, post/baseline: {min(ratios):.2f} to "
                  f"{max(ratios):.2f} (median {statistics.median(ratios):.2f})")
        finally:
            await shoal.stop()


if __name__ == "__main__":
    asyncio.run(main())
