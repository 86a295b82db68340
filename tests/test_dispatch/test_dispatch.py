"""Which bots a message wakes, exactly once, and the loop guard."""

from __future__ import annotations

from shoal.store.tables import Message, Room
from tests.support import ShoalServer, make_house
from tests.test_dispatch.conftest import (
    ScriptedRuntime,
    activations,
    heard,
    make_bot,
    room_messages,
)


async def test_a_mention_gets_exactly_one_reply(shoal_server: ShoalServer,
                                                scripted: ScriptedRuntime) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house)
    other = await make_bot(shoal_server, house)
    r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                {"content": f"@{bot['handle']} what's up?"})
    trigger = r.json()
    await shoal_server.shoal.worker.drain()
    messages = await room_messages(shoal_server, house)
    replies = [m for m in messages if m["sender_id"] == bot["id"]]
    assert [m["content"] for m in replies] == [heard(bot["username"], trigger["content"])]
    guard = replies[0]["metadata"]["loop_guard"]
    assert guard["hop"] == 1 and guard["max_hops"] == 20 and guard["status"] == "active"
    [row] = await activations(shoal_server, bot["id"])
    assert (row.trigger_kind, row.outcome, row.trigger_message_id) == ("mention", "replied",
                                                                      trigger["id"])
    assert row.reply_message_id == replies[0]["id"] and row.duration_ms is not None
    assert row.input_tokens == 10 and row.model == "scripted"
    assert await activations(shoal_server, other["id"]) == []  # not mentioned, not ambient

    # Dispatching the same stored message again changes nothing.
    shoal = shoal_server.shoal
    async with shoal.db.write() as session:
        message = await session.get(Message, trigger["id"])
        room = await session.get(Room, house.room_id)
        assert message is not None and room is not None
        assert await shoal.dispatcher.plan(session, [(room, [(message, None, "member")])]) == 0
    await shoal.worker.drain()
    assert len(await activations(shoal_server, bot["id"])) == 1
    assert len([m for m in await room_messages(shoal_server, house)
                if m["sender_id"] == bot["id"]]) == 1


async def test_the_author_and_unpermitted_senders_do_not_trigger(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    closed = await make_bot(shoal_server, house, trigger_policy="closed")
    listed = await make_bot(shoal_server, house, trigger_policy="whitelist",
                            trigger_whitelist=[house.owner.user["username"]])
    text = f"@{closed['handle']} @{listed['handle']} hello"
    await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": text})
    await house.admin.post(f"/api/agencies/{house.room_id}/messages", {"content": text})
    await shoal_server.shoal.worker.drain()
    closed_rows = await activations(shoal_server, closed["id"])
    assert [(a.outcome, a.skip_reason) for a in closed_rows] == [("skipped", "permission"),
                                                                  ("replied", None)]
    listed_rows = await activations(shoal_server, listed["id"])
    assert [a.outcome for a in listed_rows] == ["skipped", "replied"]  # admins may always
    # A bot that mentions itself does not wake itself.
    bot = scripted.runs[0].bot
    await shoal_server.shoal.chat.post(bot, house.room_id, f"@{bot.username} note to self")
    await shoal_server.shoal.worker.drain()
    assert len(await activations(shoal_server, bot.id)) == 2


async def test_a_dm_with_a_bot_always_triggers_it(shoal_server: ShoalServer,
                                                  scripted: ScriptedRuntime) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house)
    r = await house.member.post(f"/api/dm/{bot['id']}")
    dm_id = r.json()["agency"]["id"]
    await house.member.post(f"/api/agencies/{dm_id}/messages", {"content": "just between us"})
    await shoal_server.shoal.worker.drain()
    [row] = await activations(shoal_server, bot["id"])
    assert (row.trigger_kind, row.outcome) == ("dm", "replied")
    history = (await house.member.get(f"/api/agencies/{dm_id}/messages")).json()
    assert history[0]["content"] == f"{bot['username']} heard: just between us"


async def test_system_messages_trigger_mentioned_bots_without_the_loop_guard(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    bot = await make_bot(shoal_server, house)
    await shoal_server.shoal.chat.post_system(
        house.room_id, f"@{bot['handle']} [error] disk full",
        sender_name="sentry", metadata={"loop_guard": {"hop": 99, "max_hops": 20}})
    await shoal_server.shoal.worker.drain()
    [row] = await activations(shoal_server, bot["id"])
    assert (row.trigger_kind, row.outcome) == ("hook", "replied")


async def test_two_bots_answering_each_other_stop_at_the_hop_limit(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    # Mention bots: an ambient one would also wake on the person's message, and that wake
    # counts against the interaction's budget, which is never more than max_hops.
    a = await make_bot(shoal_server, house, max_hops=6)
    b = await make_bot(shoal_server, house, max_hops=6)
    partner = {a["id"]: b["handle"], b["id"]: a["handle"]}
    scripted.reply = lambda ctx: f"@{partner[ctx.bot.id]} your turn"
    await house.member.post(f"/api/agencies/{house.room_id}/messages",
                            {"content": f"@{a['handle']} start the game"})
    await shoal_server.shoal.worker.drain()
    messages = await room_messages(shoal_server, house)
    hops = [m["metadata"]["loop_guard"]["hop"] for m in messages if "loop_guard" in
            m["metadata"]]
    assert hops == [1, 2, 3, 4, 5, 6]
    interaction = {m["metadata"]["loop_guard"]["interaction_id"] for m in messages[1:]}
    assert len(interaction) == 1
    rows = await activations(shoal_server, a["id"]) + await activations(shoal_server, b["id"])
    # The sixth reply reached the limit: its addressee was not woken, and the log says why.
    assert [(r.outcome, r.skip_reason) for r in rows if r.trigger_kind == "mention"
            and r.outcome != "replied"] == [("skipped", "loop_guard")]
    assert sum(r.outcome == "replied" for r in rows) == 6
