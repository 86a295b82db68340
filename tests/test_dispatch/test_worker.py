"""The worker: leases (renewed, taken over, fenced) and retries, busy policies, ambient gates
and the daily budget."""

from __future__ import annotations

import asyncio
import logging
import os
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shoal.config import load_settings
from shoal.core import Shoal
from shoal.errors import InvalidInput, LeaseLost, ShoalError
from shoal.runtime.base import ActivationContext, Outcome
from shoal.runtime.worker import Worker
from shoal.store.tables import Activation, User, utcnow
from tests.support import House, ShoalServer, make_house
from tests.test_dispatch.conftest import ScriptedRuntime, activations, make_bot, room_messages


@pytest.fixture
def clock(shoal_server: ShoalServer) -> Iterator[list]:  # type: ignore[type-arg]
    """One controllable clock for the dispatcher and the worker: time moves only when the
    test moves it."""
    now = [utcnow()]
    shoal = shoal_server.shoal
    saved = shoal.dispatcher.clock, shoal.worker.clock
    shoal.dispatcher.clock = shoal.worker.clock = lambda: now[0]
    yield now
    shoal.dispatcher.clock, shoal.worker.clock = saved


async def post(person, room_id: str, text: str) -> dict:  # type: ignore[no-untyped-def]
    r = await person.post(f"/api/agencies/{room_id}/messages", {"content": text})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_an_activation_whose_worker_died_is_retried_once_with_one_reply(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house)
    other = await make_bot(shoal_server, house)
    trigger = await post(house.member, house.room_id, "plain message, no mention")
    shoal = shoal_server.shoal
    expired = utcnow() - timedelta(seconds=1)
    async with shoal.db.write() as session:
        # A worker claimed this, posted its reply, and died before recording the outcome.
        lost = Activation(bot_id=bot["id"], house_id=house.id, room_id=house.room_id,
                          trigger_message_id=trigger["id"], trigger_kind="mention",
                          status="running", attempts=1, lease_owner="dead-worker",
                          lease_expires_at=expired, payload={})
        twice = Activation(bot_id=other["id"], house_id=house.id, room_id=house.room_id,
                           trigger_message_id=None, trigger_kind="direct", status="running",
                           attempts=2, lease_owner="dead-worker", lease_expires_at=expired,
                           payload={})
        session.add_all([lost, twice])
    async with shoal.db.read() as session:
        bot_user = await session.get(User, bot["id"])
    await shoal.chat.post_reply(bot_user, house.room_id, "the reply before the crash",
                                activation_id=lost.id)
    await shoal.worker.drain()
    rows = {a.id: a for b in (bot, other) for a in await activations(shoal_server, b["id"])}
    assert (rows[lost.id].outcome, rows[lost.id].attempts) == ("replied", 2)
    assert (rows[twice.id].outcome, rows[twice.id].error) == (
        "error", "the worker running it stopped twice")
    replies = [m for m in await room_messages(shoal_server, house) if m["sender_id"] == bot["id"]]
    assert [m["content"] for m in replies] == ["the reply before the crash"]
    assert rows[lost.id].reply_message_id == replies[0]["id"]


async def wait_until(condition, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.02)


async def test_busy_policy_queue_runs_triggers_one_after_another(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house)
    scripted.gate = asyncio.Event()
    for i in range(3):
        await post(house.member, house.room_id, f"@{bot['handle']} job {i}")
    await wait_until(lambda: asyncio.sleep(0, len(scripted.runs) >= 1))
    await asyncio.sleep(0.2)
    assert len(scripted.runs) == 1  # one thing at a time
    scripted.gate.set()
    await shoal_server.shoal.worker.drain()
    assert [ctx.trigger["content"] for ctx in scripted.runs] == [
        f"@{bot['handle']} job {i}" for i in range(3)]
    assert [a.outcome for a in await activations(shoal_server, bot["id"])] == ["replied"] * 3


async def test_busy_policy_collect_merges_waiting_triggers_into_one_follow_up(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house, busy_policy="collect")
    scripted.gate = asyncio.Event()
    await post(house.member, house.room_id, f"@{bot['handle']} first")
    await wait_until(lambda: asyncio.sleep(0, len(scripted.runs) >= 1))
    await post(house.member, house.room_id, f"@{bot['handle']} second")
    await post(house.admin, house.room_id, f"@{bot['handle']} third")
    scripted.gate.set()
    await shoal_server.shoal.worker.drain()
    assert len(scripted.runs) == 2
    assert [m["content"] for m in scripted.runs[1].inputs] == [
        f"@{bot['handle']} second", f"@{bot['handle']} third"]
    rows = await activations(shoal_server, bot["id"])
    assert [(a.outcome, a.skip_reason) for a in rows] == [
        ("replied", None), ("replied", None), ("skipped", "collected")]


async def test_busy_policy_interrupt_stops_the_run_for_the_new_trigger(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house, busy_policy="interrupt")
    scripted.gate = asyncio.Event()
    await post(house.member, house.room_id, f"@{bot['handle']} long task")
    await wait_until(lambda: asyncio.sleep(0, len(scripted.runs) >= 1))
    await post(house.member, house.room_id, f"@{bot['handle']} never mind, do this")
    first = scripted.runs[0]
    await wait_until(lambda: asyncio.sleep(0, first.interrupted.is_set()))
    scripted.gate.set()
    await shoal_server.shoal.worker.drain()
    rows = await activations(shoal_server, bot["id"])
    assert [(a.outcome, a.skip_reason) for a in rows] == [("skipped", "interrupted"),
                                                          ("replied", None)]
    assert scripted.runs[1].trigger["content"].endswith("never mind, do this")


async def test_ambient_debounce_and_gates(shoal_server: ShoalServer, scripted: ScriptedRuntime,
                                          clock: list) -> None:  # type: ignore[type-arg]
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house, trigger_mode="ambient",
                         description="I watch deploys, releases and rollbacks.")
    # Five messages within three seconds make one activation, for the last of them.
    posted = []
    for i in range(5):
        clock[0] += timedelta(milliseconds=500)
        posted.append(await post(house.member, house.room_id, f"the deploy step {i} failed"))
    await shoal_server.shoal.worker.drain()
    assert scripted.runs == []  # still inside the debounce window
    clock[0] += timedelta(seconds=3)
    await shoal_server.shoal.worker.drain()
    [relevant] = await activations(shoal_server, bot["id"])
    assert relevant.trigger_message_id == posted[-1]["id"]
    assert (relevant.trigger_kind, relevant.outcome) == ("ambient", "replied")

    # It just spoke, so the next chatter is skipped without asking any model.
    await post(house.member, house.room_id, "and the rollback of the deploy?")
    clock[0] += timedelta(seconds=3)
    await shoal_server.shoal.worker.drain()
    latest = (await activations(shoal_server, bot["id"]))[-1]
    assert (latest.outcome, latest.skip_reason, latest.model) == ("skipped", "cooldown", None)

    # Once others have talked for a while, irrelevant chatter is judged and skipped.
    for i in range(5):
        await post(house.admin, house.room_id, f"lunch plans {i}: pizza or noodles")
    await post(house.admin, house.room_id, "anyone for pizza at noon?")
    clock[0] += timedelta(seconds=3)
    await shoal_server.shoal.worker.drain()
    rows = await activations(shoal_server, bot["id"])
    assert [(r.outcome, r.skip_reason) for r in rows] == [
        ("replied", None), ("skipped", "cooldown"), ("skipped", "relevance")]
    assert rows[-1].model  # the relevance question was asked of a model


async def test_ambient_chatter_stored_together_makes_one_activation(
        shoal_server: ShoalServer, scripted: ScriptedRuntime,
        clock: list) -> None:  # type: ignore[type-arg]
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house, trigger_mode="ambient",
                         description="I watch deploys, releases and rollbacks.")
    shoal = shoal_server.shoal
    async with shoal.db.read() as session:
        member = await session.get(User, house.member.id)
    assert member is not None
    # Posted at once, these share one transaction of the message log (group commit).
    posted = await asyncio.gather(*(shoal.chat.post(member, house.room_id, f"deploy {i} failed")
                                    for i in range(4)))
    clock[0] += timedelta(seconds=3)
    await shoal_server.shoal.worker.drain()
    [row] = await activations(shoal_server, bot["id"])
    newest = max(posted, key=lambda message: message["seq"])
    assert (row.trigger_message_id, row.trigger_kind) == (newest["id"], "ambient")


async def test_a_mention_skips_the_ambient_gates(shoal_server: ShoalServer,
                                                 scripted: ScriptedRuntime) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house, trigger_mode="ambient",
                         description="I watch deploys.")
    await post(house.member, house.room_id, f"@{bot['handle']} pizza?")
    await shoal_server.shoal.worker.drain()
    await post(house.member, house.room_id, f"@{bot['handle']} pizza, really?")
    await shoal_server.shoal.worker.drain()
    rows = [a for a in await activations(shoal_server, bot["id"]) if a.status == "done"]
    assert [(a.trigger_kind, a.outcome) for a in rows] == [("mention", "replied")] * 2


async def test_the_daily_token_budget_stops_a_bot(shoal_server: ShoalServer,
                                                  scripted: ScriptedRuntime) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house, daily_token_budget=20)
    for i in range(3):  # each scripted run costs 15 tokens
        await post(house.member, house.room_id, f"@{bot['handle']} task {i}")
        await shoal_server.shoal.worker.drain()
    rows = await activations(shoal_server, bot["id"])
    assert [(a.outcome, a.skip_reason) for a in rows] == [
        ("replied", None), ("replied", None), ("skipped", "budget")]


class Recording(ScriptedRuntime):
    """A scripted runtime that keeps what its replies were refused with."""

    def __init__(self, answer: str) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.reply = lambda ctx: answer
        self.refused: list[ShoalError] = []

    async def run(self, ctx: ActivationContext) -> Outcome:
        try:
            return await super().run(ctx)
        except ShoalError as exc:
            self.refused.append(exc)
            raise


@pytest.fixture
async def workers(shoal_server: ShoalServer) -> AsyncIterator[Callable[..., Worker]]:
    """Workers the test drives tick by tick on the test's clock, with the shared worker
    stopped meanwhile so that nothing else claims."""
    shared = shoal_server.shoal.worker
    await shared.stop()
    made: list[Worker] = []

    def make(runtime: ScriptedRuntime, **options: Any) -> Worker:
        shoal = shoal_server.shoal
        worker = Worker(shoal.db, shoal.settings, {"builtin": runtime},  # type: ignore[dict-item]
                        chat=shoal.chat, gateway=shoal.gateway, models=lambda: shoal.models,
                        lease=timedelta(seconds=15), clock=shared.clock, **options)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        await worker.stop()
    await shared.start()


async def the_activation(server: ShoalServer, bot: dict[str, str]) -> Activation:
    rows = await activations(server, bot["id"])
    assert len(rows) == 1
    return rows[0]


async def bot_replies(server: ShoalServer, house: House, bot: dict[str, str]) -> list[str]:
    return [m["content"] for m in await room_messages(server, house)
            if m["sender_id"] == bot["id"]]


async def test_a_running_activation_keeps_its_lease_while_it_runs(
    shoal_server: ShoalServer, clock: list, workers: Callable[..., Worker],  # type: ignore[type-arg]
) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house)
    slow, idle = Recording("done at last"), Recording("never")
    running = workers(slow, renew_seconds=0.01)
    other = workers(idle, renew_seconds=1)
    await post(house.member, house.room_id, f"@{bot['handle']} a long task")
    assert await running.tick() == 1
    clock[0] += timedelta(seconds=10)
    renewed_until = clock[0] + timedelta(seconds=15)

    async def renewed() -> bool:
        row = await the_activation(shoal_server, bot)
        return row.lease_expires_at is not None and row.lease_expires_at >= renewed_until
    await wait_until(renewed)
    clock[0] += timedelta(seconds=10)  # past the end of the lease it was claimed with
    assert await other.tick() == 0
    row = await the_activation(shoal_server, bot)
    assert (row.status, row.lease_owner) == ("running", running.name)
    slow.gate.set()  # type: ignore[union-attr]
    await running.drain()
    row = await the_activation(shoal_server, bot)
    assert (row.outcome, row.attempts, row.lease_owner) == ("replied", 1, running.name)
    assert "lease_expired" not in row.payload and idle.runs == []
    assert await bot_replies(shoal_server, house, bot) == ["done at last"]


async def test_an_expired_lease_is_taken_over_and_answered_once(
    shoal_server: ShoalServer, clock: list, workers: Callable[..., Worker],  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house)
    doomed, survivor_runtime = Recording("from the dead worker"), Recording("from the survivor")
    survivor_runtime.gate.set()  # type: ignore[union-attr]
    # It hangs mid-run and never renews, as a worker that died would: its lease runs out.
    dead = workers(doomed, renew_seconds=3600)
    survivor = workers(survivor_runtime, renew_seconds=1)
    await post(house.member, house.room_id, f"@{bot['handle']} are you there?")
    assert await dead.tick() == 1
    await wait_until(lambda: asyncio.sleep(0, len(doomed.runs) == 1))
    clock[0] += timedelta(seconds=14)
    assert await survivor.tick() == 0  # the lease still holds
    clock[0] += timedelta(seconds=2)
    with caplog.at_level(logging.WARNING, logger="shoal.runtime"):
        assert await survivor.tick() == 1
    assert any("expired" in r.getMessage() and dead.name in r.getMessage()
               for r in caplog.records)
    await survivor.drain()
    row = await the_activation(shoal_server, bot)
    assert (row.outcome, row.attempts, row.lease_owner) == ("replied", 2, survivor.name)
    assert row.payload["lease_expired"]["owner"] == dead.name
    assert await bot_replies(shoal_server, house, bot) == ["from the survivor"]


async def test_a_stopping_worker_hands_its_run_back_and_another_takes_it_at_once(
    shoal_server: ShoalServer, clock: list, workers: Callable[..., Worker],  # type: ignore[type-arg]
    caplog: pytest.LogCaptureFixture,
) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house)
    stopping, other = Recording("from the stopping worker"), Recording("from the other")
    other.gate.set()  # type: ignore[union-attr]
    first, second = workers(stopping), workers(other)
    await post(house.member, house.room_id, f"@{bot['handle']} are you there?")
    assert await first.tick() == 1
    await wait_until(lambda: asyncio.sleep(0, len(stopping.runs) == 1))
    with caplog.at_level(logging.INFO, logger="shoal.runtime"):
        await first.stop(grace=0.2)  # its run does not finish within the grace
    assert any("handed activation" in r.getMessage() for r in caplog.records)
    row = await the_activation(shoal_server, bot)
    assert (row.status, row.attempts, row.lease_owner) == ("pending", 0, None)
    assert row.payload["handed_back"]["by"] == first.name
    assert await second.tick() == 1  # at once: no lease to wait for (the clock stands still)
    await second.drain()
    row = await the_activation(shoal_server, bot)
    assert (row.outcome, row.attempts, row.lease_owner) == ("replied", 1, second.name)
    assert "lease_expired" not in row.payload
    assert await bot_replies(shoal_server, house, bot) == ["from the other"]


async def test_a_stopping_worker_lets_a_run_finish_within_the_grace(
    shoal_server: ShoalServer, workers: Callable[..., Worker],  # type: ignore[type-arg]
) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house)
    runtime = Recording("finished while stopping")
    worker = workers(runtime)
    await post(house.member, house.room_id, f"@{bot['handle']} quick one")
    assert await worker.tick() == 1
    await wait_until(lambda: asyncio.sleep(0, len(runtime.runs) == 1))
    stopping = asyncio.create_task(worker.stop(grace=30))
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for the run...
    runtime.gate.set()  # type: ignore[union-attr]
    await stopping  # ...which then finishes: nothing handed back
    row = await the_activation(shoal_server, bot)
    assert (row.outcome, row.lease_owner) == ("replied", worker.name)
    assert "handed_back" not in row.payload
    assert await bot_replies(shoal_server, house, bot) == ["finished while stopping"]


async def test_a_worker_that_lost_its_lease_cannot_post_the_reply(
    shoal_server: ShoalServer, clock: list, workers: Callable[..., Worker],  # type: ignore[type-arg]
) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house)
    stalled_runtime, taker_runtime = Recording("from the stalled worker"), Recording("from me")
    stalled = workers(stalled_runtime, renew_seconds=3600)  # alive, but it never renews
    taker = workers(taker_runtime, renew_seconds=1)
    await post(house.member, house.room_id, f"@{bot['handle']} hello")
    assert await stalled.tick() == 1
    await wait_until(lambda: asyncio.sleep(0, len(stalled_runtime.runs) == 1))
    clock[0] += timedelta(seconds=16)
    assert await taker.tick() == 1
    await wait_until(lambda: asyncio.sleep(0, len(taker_runtime.runs) == 1))
    stalled_runtime.gate.set()  # type: ignore[union-attr]
    await stalled.drain()
    assert [type(e) for e in stalled_runtime.refused] == [LeaseLost]
    assert await bot_replies(shoal_server, house, bot) == []
    row = await the_activation(shoal_server, bot)
    assert (row.status, row.lease_owner) == ("running", taker.name)
    taker_runtime.gate.set()  # type: ignore[union-attr]
    await taker.drain()
    row = await the_activation(shoal_server, bot)
    assert (row.outcome, row.lease_owner) == ("replied", taker.name)
    assert await bot_replies(shoal_server, house, bot) == ["from me"]


@pytest.mark.parametrize(("values", "problem"), [
    ({"worker_lease_seconds": "4", "worker_lease_renew_seconds": "5"},
     "worker_lease_renew_seconds (5) must be shorter than worker_lease_seconds (4)"),
    ({"worker_lease_seconds": "3"},  # the renewal's default, 5 s, would come too late
     "worker_lease_renew_seconds (5) must be shorter than worker_lease_seconds (3)"),
    ({"worker_concurrency": "0"}, "worker_concurrency must be at least 1"),
    ({"worker_lease_renew_seconds": "0"}, "worker_lease_renew_seconds must be more than 0"),
])
def test_worker_settings_that_cannot_work_are_refused_at_start(
    monkeypatch: pytest.MonkeyPatch, values: dict[str, str], problem: str,
) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"SHOAL_{name.upper()}", value)
    with pytest.raises(InvalidInput, match=re.escape(problem)):
        load_settings()


def test_the_worker_takes_its_concurrency_and_lease_from_the_settings(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, secret="s", worker_concurrency=3,
                             worker_lease_seconds=4, worker_lease_renew_seconds=1)
    worker = Shoal(settings).worker
    assert (worker.concurrency, worker.lease, worker.renew_seconds) == (
        3, timedelta(seconds=4), 1)
    host, pid, _ = worker.name.split(":")
    assert (host, int(pid)) == (socket.gethostname()[:40], os.getpid())
