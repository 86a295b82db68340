"""The worker: leases and retries, busy policies, ambient gates and the daily budget."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta

import pytest

from shoal.store.tables import Activation, User, utcnow
from tests.support import ShoalServer, make_house
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
