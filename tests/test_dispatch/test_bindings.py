"""A room's bound agent: it answers every person's message unmentioned, and nothing else."""

from __future__ import annotations

from typing import Any

from shoal.store.tables import User
from tests.support import House, ShoalServer, make_house, unique
from tests.test_dispatch.conftest import (
    ScriptedRuntime,
    activations,
    heard,
    make_bot,
    room_messages,
)


async def bind(house: House, agent: dict[str, str], room_id: str | None = None) -> None:
    r = await house.admin.http.put(f"/api/agencies/{room_id or house.room_id}/binding",
                                   json={"agent": agent["handle"]})
    assert r.status_code == 200, r.text


async def say(house: House, content: str, room_id: str | None = None) -> dict[str, Any]:
    r = await house.member.post(f"/api/agencies/{room_id or house.room_id}/messages",
                                {"content": content})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


async def test_the_bound_agent_answers_a_person_unmentioned(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    desk = await make_bot(shoal_server, house)
    await bind(house, desk)
    trigger = await say(house, "where do I find the invoices?")
    await shoal_server.shoal.worker.drain()
    [row] = await activations(shoal_server, desk["id"])
    assert (row.trigger_kind, row.outcome, row.trigger_message_id) == ("binding", "replied",
                                                                      trigger["id"])
    replies = [m["content"] for m in await room_messages(shoal_server, house)
               if m["sender_id"] == desk["id"]]
    assert replies == [heard(desk["username"], trigger["content"])]
    r = await house.owner.get(f"/api/agents/{desk['id']}/activations")
    assert [a["trigger_kind"] for a in r.json()] == ["binding"]


async def test_mentions_of_others_wake_them_and_not_the_bound_agent(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    desk = await make_bot(shoal_server, house)
    expert = await make_bot(shoal_server, house)
    await bind(house, desk)
    await say(house, f"@{expert['handle']} can you check the build?")
    await say(house, f"@{house.admin.user['username']} are you around?")
    await shoal_server.shoal.worker.drain()
    assert await activations(shoal_server, desk["id"]) == []
    [row] = await activations(shoal_server, expert["id"])
    assert (row.trigger_kind, row.outcome) == ("mention", "replied")
    # Mentioned itself, the bound agent answers once, as mentioned.
    await say(house, f"@{desk['handle']} and you?")
    await shoal_server.shoal.worker.drain()
    assert [r.trigger_kind for r in await activations(shoal_server, desk["id"])] == ["mention"]


async def test_agents_and_system_messages_do_not_wake_the_bound_agent(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    desk = await make_bot(shoal_server, house)
    chatty = await make_bot(shoal_server, house)
    await bind(house, desk)
    async with shoal_server.shoal.db.read() as session:
        chatty_user = await session.get(User, chatty["id"])
    assert chatty_user is not None
    await shoal_server.shoal.chat.post(chatty_user, house.room_id, "status: all green")
    await shoal_server.shoal.chat.post_system(house.room_id, "deploy finished",
                                              sender_name="ci")
    await shoal_server.shoal.worker.drain()
    assert await activations(shoal_server, desk["id"]) == []
    # Its own reply to a person wakes nobody: one message, one answer.
    await say(house, "hello desk")
    await shoal_server.shoal.worker.drain()
    assert len(await activations(shoal_server, desk["id"])) == 1


async def test_the_bound_agents_limits_still_hold(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    desk = await make_bot(shoal_server, house, trigger_policy="whitelist",
                          trigger_whitelist=[house.owner.user["username"]])
    await bind(house, desk)
    await say(house, "may I ask something?")
    await shoal_server.shoal.worker.drain()
    [row] = await activations(shoal_server, desk["id"])
    assert (row.trigger_kind, row.outcome, row.skip_reason) == ("binding", "skipped",
                                                                "permission")


async def test_a_private_room_bound_to_an_agent_brings_it_in(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    desk = await make_bot(shoal_server, house)
    r = await house.admin.post("/api/agencies", {"name": unique("support"), "houseId": house.id,
                                                 "isPrivate": True})
    room_id = r.json()["id"]
    await house.admin.post(f"/api/agencies/{room_id}/messages",
                           {"content": "a private question"})
    await shoal_server.shoal.worker.drain()
    assert await activations(shoal_server, desk["id"]) == []  # not in the room: not in scope
    await bind(house, desk, room_id)
    r = await house.admin.post(f"/api/agencies/{room_id}/messages",
                               {"content": "another private question"})
    await shoal_server.shoal.worker.drain()
    [row] = await activations(shoal_server, desk["id"])
    assert (row.trigger_kind, row.outcome, row.trigger_message_id) == ("binding", "replied",
                                                                      r.json()["id"])
