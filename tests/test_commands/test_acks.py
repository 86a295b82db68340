"""Commands over the socket: the ack is the answer, and silent means nothing in the room."""

from __future__ import annotations

import asyncio

from tests.support import ShoalServer, make_house


async def history(person, room_id: str) -> list[dict]:  # type: ignore[no-untyped-def]
    r = await person.get(f"/api/agencies/{room_id}/messages")
    assert r.status_code == 200
    return r.json()  # type: ignore[no-any-return]


async def test_silent_command_answers_only_in_the_ack(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    watcher, runner = await house.owner.socket(), await house.member.socket()
    await watcher.join(house.room_id)
    await runner.join(house.room_id)
    ack = await runner.call("send-message", {"agencyId": house.room_id, "content": "/roll 3d6",
                                             "silent": True})
    assert ack["ok"] is True and ack["command"] == "roll" and ack["type"] == "system"
    assert "rolled 3d6" in ack["content"]
    assert "messageId" not in ack
    await asyncio.sleep(0.2)
    assert watcher.received("message") == [] and runner.received("message") == []
    assert await history(house.owner, house.room_id) == []


async def test_silent_is_the_default(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    sock = await house.member.socket()
    ack = await sock.call("send-message", {"agencyId": house.room_id, "content": "/echo hi"})
    assert ack == {"ok": True, "command": "echo", "content": "hi", "type": "system"}
    assert await history(house.owner, house.room_id) == []


async def test_visible_command_posts_its_result_as_a_system_message(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    watcher, runner = await house.owner.socket(), await house.member.socket()
    await watcher.join(house.room_id)
    ack = await runner.call("send-message", {"agencyId": house.room_id,
                                             "content": "/echo deploy at 5", "silent": False})
    assert ack["ok"] and ack["content"] == "deploy at 5" and ack["messageId"]
    [message] = await watcher.wait_for("message")
    assert message["id"] == ack["messageId"]
    assert message["type"] == "system" and message["sender_id"] == "system"
    assert message["content"] == "deploy at 5"
    assert message["metadata"]["command"] == "echo"
    assert message["metadata"]["invoked_by"]["id"] == house.member.id
    assert [m["id"] for m in await history(house.owner, house.room_id)] == [ack["messageId"]]


async def test_visible_ephemeral_result_reaches_only_the_invoker(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    watcher, runner = await house.owner.socket(), await house.member.socket()
    await watcher.join(house.room_id)
    await runner.join(house.room_id)
    ack = await runner.call("send-message", {"agencyId": house.room_id, "content": "/help",
                                             "silent": False})
    assert ack["ok"] and ack["ephemeral"] is True and "/roll <dice>" in ack["content"]
    [shown] = await runner.wait_for("message")
    assert shown["ephemeral"] is True and "seq" not in shown
    await asyncio.sleep(0.2)
    assert watcher.received("message") == []
    assert await history(house.owner, house.room_id) == []


async def test_unknown_command_answers_with_the_help_listing(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    sock = await house.member.socket()
    ack = await sock.call("send-message", {"agencyId": house.room_id, "content": "/dance now"})
    assert ack["ok"] is False and ack["command"] == "dance"
    assert "unknown command /dance" in ack["error"]
    for listed in ("/help", "/roll <dice>", "/save <key> <value...>", "/invite <handle>"):
        assert listed in ack["error"]
    assert await history(house.owner, house.room_id) == []


async def test_malformed_command_says_what_is_wrong_with_usage_and_example(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    sock = await house.member.socket()
    ack = await sock.call("send-message", {"agencyId": house.room_id, "content": "/roll lots"})
    assert ack == {
        "ok": False,
        "command": "roll",
        "error": "/roll: dice must look like NdM, e.g. 2d6. Usage: /roll <dice>. "
                 "Example: /roll 2d6",
    }
    ack = await sock.call("send-message", {"agencyId": house.room_id, "content": "/save onlykey"})
    assert ack["ok"] is False and "missing <value>" in ack["error"]
    assert "Example: /save deploy-day Thursday" in ack["error"]
    ack = await sock.call("send-message", {"agencyId": house.room_id,
                                           "content": '/echo "unclosed'})
    assert ack["ok"] is False and "unclosed" in ack["error"]
    assert await history(house.owner, house.room_id) == []
