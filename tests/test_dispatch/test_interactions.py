"""Interactions: one budget of agent replies per message from a person, a hook or a schedule,
however the chains of replies branch; the ambient rule; one answer per trigger message."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from shoal.store.tables import Activation, User, utcnow
from tests.support import House, ShoalServer, make_house
from tests.test_dispatch.conftest import ScriptedRuntime, activations, make_bot, room_messages

NOTICE = "Agents stopped after {} replies; mention one to go on."


async def wait_until(condition: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await condition():
            await asyncio.sleep(0.02)


async def all_messages(server: ShoalServer, house: House) -> list[dict[str, Any]]:
    """The room's whole history, oldest first."""
    found: list[dict[str, Any]] = []
    while True:
        r = await house.owner.get(
            f"/api/agencies/{house.room_id}/messages",
            params={"after_seq": found[-1]["seq"] if found else 0, "limit": 100},
        )
        page = r.json()
        found.extend(page)
        if len(page) < 100:
            return found


async def notices(server: ShoalServer, house: House) -> list[str]:
    return [
        m["content"]
        for m in await all_messages(server, house)
        if m["content"].startswith("Agents stopped after")
    ]


async def set_budget(house: House, budget: int | None) -> None:
    r = await house.owner.patch(f"/api/houses/{house.id}", {"interaction_budget": budget})
    assert r.status_code == 200, r.text


async def bot_rows(server: ShoalServer, bots: list[dict[str, str]]) -> list[Activation]:
    return [row for bot in bots for row in await activations(server, bot["id"])]


async def settle(server: ShoalServer, house: House, expected_notices: int) -> None:
    """Run every activation, then wait for the notices posted after their commits."""
    await server.shoal.worker.drain()

    async def noticed() -> bool:
        return len(await notices(server, house)) >= expected_notices

    await wait_until(noticed)
    await server.shoal.worker.drain()


def address_everyone_else(bots: list[dict[str, str]]) -> Callable[[Any], str]:
    """A reply that @mentions every other bot, as models talking to each other do."""
    return lambda ctx: " ".join(f"@{b['handle']}" for b in bots if b["id"] != ctx.bot.id) + " ?"


async def test_three_bots_addressing_each_other_stop_at_the_budget(
    shoal_server: ShoalServer,
    scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    bots = [await make_bot(shoal_server, house) for _ in range(3)]
    scripted.reply = address_everyone_else(bots)
    r = await house.member.post(
        f"/api/agencies/{house.room_id}/messages",
        {"content": f"@{bots[0]['handle']} what do you all think?"},
    )
    assert r.status_code == 201
    await settle(shoal_server, house, 1)

    messages = await all_messages(shoal_server, house)
    replies = [m for m in messages if m["sender_id"] in {b["id"] for b in bots}]
    assert len(replies) == 20  # the server's default budget, exactly
    assert await notices(shoal_server, house) == [NOTICE.format(20)]
    rows = await bot_rows(shoal_server, bots)
    assert sum(row.outcome == "replied" for row in rows) == 20
    stopped = [row for row in rows if row.skip_reason == "interaction_budget"]
    assert stopped and all(row.outcome == "skipped" for row in stopped)
    assert len({row.interaction_id for row in rows}) == 1
    assert {m["metadata"]["loop_guard"]["interaction_id"] for m in replies} == {
        rows[0].interaction_id
    }
    # Each skip is in the log, as the API shows it.
    r = await house.owner.get(
        f"/api/agents/{bots[1]['id']}/activations", params={"outcome": "skipped"}
    )
    assert {a["skip_reason"] for a in r.json()} <= {"interaction_budget"}
    assert {a["interaction_id"] for a in r.json()} <= {rows[0].interaction_id}


async def test_two_parallel_chains_share_one_budget(
    shoal_server: ShoalServer,
    scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    await set_budget(house, 6)
    a, b, c, d = [await make_bot(shoal_server, house) for _ in range(4)]
    partner = {a["id"]: c, c["id"]: a, b["id"]: d, d["id"]: b}
    scripted.reply = lambda ctx: f"@{partner[ctx.bot.id]['handle']} over to you"
    await house.member.post(
        f"/api/agencies/{house.room_id}/messages",
        {"content": f"@{a['handle']} @{b['handle']} both of you, go"},
    )
    await settle(shoal_server, house, 1)

    rows = await bot_rows(shoal_server, [a, b, c, d])
    replied = [row for row in rows if row.outcome == "replied"]
    assert len(replied) == 6
    assert {row.bot_id for row in replied} & {a["id"], c["id"]}  # both chains ran
    assert {row.bot_id for row in replied} & {b["id"], d["id"]}
    assert [(row.outcome, row.skip_reason) for row in rows if row.outcome != "replied"] == [
        ("skipped", "interaction_budget")
    ] * 2  # each chain's next wake
    assert await notices(shoal_server, house) == [NOTICE.format(6)]


async def test_a_persons_next_message_starts_a_fresh_interaction(
    shoal_server: ShoalServer,
    scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    await set_budget(house, 3)
    a, b = await make_bot(shoal_server, house), await make_bot(shoal_server, house)
    scripted.reply = address_everyone_else([a, b])
    for round_ in (1, 2):
        await house.member.post(
            f"/api/agencies/{house.room_id}/messages", {"content": f"@{a['handle']} round {round_}"}
        )
        await settle(shoal_server, house, round_)
    rows = await bot_rows(shoal_server, [a, b])
    by_interaction: dict[str | None, int] = {}
    for row in rows:
        if row.outcome == "replied":
            by_interaction[row.interaction_id] = by_interaction.get(row.interaction_id, 0) + 1
    assert sorted(by_interaction.values()) == [3, 3]
    assert await notices(shoal_server, house) == [NOTICE.format(3)] * 2


async def test_a_schedule_and_a_bots_command_output_count_as_they_should(
    shoal_server: ShoalServer,
    scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    a, b = await make_bot(shoal_server, house), await make_bot(shoal_server, house)
    shoal = shoal_server.shoal
    # A heartbeat's prompt wakes the agent it is for, not others it happens to name.
    await shoal.chat.post_system(
        house.room_id,
        f"@{a['handle']} ask @{b['handle']}",
        sender_name="Heartbeat",
        metadata={"heartbeat": True, "heartbeat_bot_id": a["id"]},
    )
    await shoal.worker.drain()
    [woken] = await activations(shoal_server, a["id"])
    assert (woken.trigger_kind, woken.outcome) == ("heartbeat", "replied")
    assert await activations(shoal_server, b["id"]) == []
    # `/echo @b` run by the agent is its message: b wakes in the agent's interaction.
    async with shoal.db.read() as session:
        agent = await session.get(User, a["id"])
    assert agent is not None
    ack = await shoal.command_runner.run_command(
        agent, house.room_id, f"/echo @{b['handle']} your turn", post_result=True
    )
    assert ack["ok"], ack
    await shoal.worker.drain()
    [echoed] = await activations(shoal_server, b["id"])
    assert echoed.outcome == "replied" and echoed.interaction_id == woken.interaction_id


async def test_ambient_bots_hear_people_and_hooks_not_agents_unless_they_opt_in(
    shoal_server: ShoalServer,
    scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    about = "I watch deploys, releases and rollbacks."
    talker = await make_bot(shoal_server, house)
    plain = await make_bot(shoal_server, house, trigger_mode="ambient", description=about)
    listening = await make_bot(
        shoal_server, house, trigger_mode="ambient", description=about, ambient_on_agents=True
    )
    shoal = shoal_server.shoal
    async with shoal.db.read() as session:
        agent = await session.get(User, talker["id"])
    assert agent is not None
    await shoal.chat.post(agent, house.room_id, "the deploy failed")
    assert await activations(shoal_server, plain["id"]) == []
    [heard] = await activations(shoal_server, listening["id"])
    assert heard.trigger_kind == "ambient"

    await shoal.chat.post_system(
        house.room_id,
        "deploy 42 rolled back",
        sender_name="ci",
        metadata={"hook": {"id": "h1", "name": "ci"}},
    )
    [from_hook] = await activations(shoal_server, plain["id"])
    assert from_hook.trigger_kind == "ambient"
    await house.member.post(
        f"/api/agencies/{house.room_id}/messages", {"content": "is the release out?"}
    )
    rows = await activations(shoal_server, plain["id"])
    assert [row.trigger_kind for row in rows] == ["ambient"]  # folded into the waiting one
    # Close the debounced activations, so none is left for the next test's worker.
    async with shoal.db.write() as session:
        await session.execute(
            update(Activation)
            .where(Activation.bot_id.in_([plain["id"], listening["id"]]))
            .values(status="done", outcome="skipped")
        )


async def test_a_bot_answers_a_trigger_message_once(
    shoal_server: ShoalServer,
    scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(
        shoal_server, house, trigger_mode="ambient", description="I watch deploys."
    )
    # Mentioned and ambient at once: one activation, as a mention.
    r = await house.member.post(
        f"/api/agencies/{house.room_id}/messages",
        {"content": f"@{bot['handle']} @{bot['handle']} deploy?"},
    )
    trigger = r.json()
    shoal = shoal_server.shoal
    await shoal.worker.drain()
    [row] = await activations(shoal_server, bot["id"])
    assert (row.trigger_kind, row.outcome) == ("mention", "replied")
    # A retried run whose reply was already posted closes as replied without running again.
    expired = utcnow() - timedelta(seconds=1)
    async with shoal.db.write() as session:
        lost = await session.get(Activation, row.id)
        assert lost is not None
        lost.status, lost.outcome, lost.attempts = "running", None, 1
        lost.lease_owner, lost.lease_expires_at = "dead-worker", expired
    runs = len(scripted.runs)
    await shoal.worker.drain()
    [again] = await activations(shoal_server, bot["id"])
    assert (again.outcome, again.attempts) == ("replied", 2)
    assert len(scripted.runs) == runs
    replies = [m for m in await room_messages(shoal_server, house) if m["sender_id"] == bot["id"]]
    assert len(replies) == 1 and again.reply_message_id == replies[0]["id"]
    assert again.trigger_message_id == trigger["id"]
