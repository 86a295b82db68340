"""The activation log API: filters, order, limits, who may read it, and pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from shoal.runtime.activations import prune_activations
from shoal.store.tables import Activation
from tests.support import House, ShoalServer, make_house, unique

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


async def house_bot(house: House) -> str:
    r = await house.owner.post("/api/agents", {"name": unique("bot"), "houseId": house.id})
    assert r.status_code == 201, r.text
    return str(r.json()["agent"]["id"])


async def insert(server: ShoalServer, bot_id: str, house_id: str, room_id: str,
                 minutes: int, **values: Any) -> str:
    """An activation created `minutes` after T0, as the dispatcher would have recorded it."""
    row = Activation(bot_id=bot_id, house_id=house_id, room_id=room_id,
                     trigger_message_id=values.pop("trigger", unique("m")),
                     trigger_kind=values.pop("kind", "mention"),
                     created_at=T0 + timedelta(minutes=minutes), **values)
    async with server.shoal.db.write() as session:
        session.add(row)
        await session.flush()
        return row.id


async def test_rows_come_newest_first_with_their_details_and_filter(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    r = await house.owner.post("/api/agencies", {"name": unique("room"), "houseId": house.id})
    other_room = r.json()["id"]
    replied = await insert(shoal_server, bot, house.id, house.room_id, 1, trigger="msg-1",
                           status="done", outcome="replied", model="offline/echo",
                           input_tokens=120, output_tokens=30, duration_ms=41, attempts=1,
                           started_at=T0 + timedelta(minutes=1, seconds=1),
                           finished_at=T0 + timedelta(minutes=1, seconds=2),
                           reply_message_id="reply-1")
    skipped = await insert(shoal_server, bot, house.id, house.room_id, 2, kind="ambient",
                           status="done", outcome="skipped", skip_reason="cooldown")
    elsewhere = await insert(shoal_server, bot, house.id, other_room, 3, status="pending")
    r = await house.member.get(f"/api/agents/{bot}/activations")
    assert r.status_code == 200, r.text
    rows = r.json()
    assert [row["id"] for row in rows] == [elsewhere, skipped, replied]
    assert rows[2] == {
        "id": replied, "bot_id": bot, "room_id": house.room_id, "trigger_message_id": "msg-1",
        "trigger_kind": "mention", "status": "done", "outcome": "replied", "skip_reason": None,
        "model": "offline/echo", "input_tokens": 120, "output_tokens": 30, "duration_ms": 41,
        "error": None, "attempts": 1, "created_at": "2026-03-01T12:01:00.000Z",
        "started_at": "2026-03-01T12:01:01.000Z", "finished_at": "2026-03-01T12:01:02.000Z",
        "reply_message_id": "reply-1", "interaction_id": None, "crew_id": None,
        "crew_role": None, "tools": [], "compactions": []}
    assert rows[1]["skip_reason"] == "cooldown" and rows[1]["trigger_kind"] == "ambient"

    async def ids(**params: Any) -> list[str]:
        r = await house.member.get(f"/api/agents/{bot}/activations", params=params)
        assert r.status_code == 200, r.text
        return [row["id"] for row in r.json()]

    assert await ids(roomId=house.room_id) == [skipped, replied]
    assert await ids(roomId=other_room) == [elsewhere]
    assert await ids(triggerId="msg-1") == [replied]
    assert await ids(since="2026-03-01T12:02:00Z") == [elsewhere, skipped]
    assert await ids(since="2026-03-01T13:02:00+01:00") == [elsewhere, skipped]
    since_ms = int(datetime(2026, 3, 1, 12, 2, tzinfo=UTC).timestamp() * 1000)
    assert await ids(since=str(since_ms)) == [elsewhere, skipped]
    assert await ids(limit=2) == [elsewhere, skipped]
    assert await ids(roomId=house.room_id, limit=1) == [skipped]


async def test_the_limit_defaults_to_50_and_caps_at_200(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    async with shoal_server.shoal.db.write() as session:
        session.add_all([Activation(bot_id=bot, house_id=house.id, room_id=house.room_id,
                                    trigger_message_id=f"m{i}", trigger_kind="mention",
                                    created_at=T0 + timedelta(seconds=i)) for i in range(201)])
    route = f"/api/agents/{bot}/activations"
    assert len((await house.owner.get(route)).json()) == 50
    assert len((await house.owner.get(route, params={"limit": 200})).json()) == 200
    for bad in ({"limit": 201}, {"limit": 0}, {"since": "yesterday"},
                {"since": "2026-03-01T12:00:00"}, {"since": "9" * 30}, {"since": "-5"}):
        r = await house.owner.get(route, params=bad)
        assert r.status_code == 400 and set(r.json()) == {"error"}, r.text


async def test_only_people_of_the_bots_houses_may_read_it(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    row = await insert(shoal_server, bot, house.id, house.room_id, 0, status="done",
                       outcome="replied")
    route = f"/api/agents/{bot}/activations"
    for person in (house.owner, house.admin, house.member, house.guest):
        r = await person.get(route)
        assert r.status_code == 200 and [a["id"] for a in r.json()] == [row], r.text
    outsider = await shoal_server.register()
    r = await outsider.get(route)
    assert r.status_code == 404 and r.json() == {"error": "agent not found"}
    # A person, or an id that names nothing, is not an agent either.
    assert (await house.owner.get(f"/api/agents/{house.member.id}/activations")
            ).status_code == 404
    assert (await house.owner.get("/api/agents/nope/activations")).status_code == 404


async def test_a_private_rooms_activations_show_only_to_its_members(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    r = await house.member.post("/api/agencies", {"name": unique("private"),
                                                  "houseId": house.id, "isPrivate": True})
    private = r.json()["id"]
    hidden = await insert(shoal_server, bot, house.id, private, 1, status="done",
                          outcome="replied")
    public = await insert(shoal_server, bot, house.id, house.room_id, 0, status="done",
                          outcome="replied")
    route = f"/api/agents/{bot}/activations"
    assert [a["id"] for a in (await house.member.get(route)).json()] == [hidden, public]
    assert [a["id"] for a in (await house.owner.get(route)).json()] == [public]
    r = await house.owner.get(route, params={"roomId": private})
    assert r.status_code == 200 and r.json() == []


async def test_pruning_removes_old_finished_rows_only(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    now = datetime.now(UTC)
    minutes = int((now - T0).total_seconds() // 60)
    old_done = await insert(shoal_server, bot, house.id, house.room_id, minutes - 40 * 1440,
                            status="done", outcome="replied")
    old_pending = await insert(shoal_server, bot, house.id, house.room_id,
                               minutes - 40 * 1440, status="pending")
    recent_done = await insert(shoal_server, bot, house.id, house.room_id, minutes - 1440,
                               status="done", outcome="skipped", skip_reason="relevance")
    assert await prune_activations(shoal_server.shoal.db, timedelta(days=30)) >= 1
    async with shoal_server.shoal.db.read() as session:
        left = set((await session.scalars(
            select(Activation.id).where(Activation.bot_id == bot))).all())
    assert left == {old_pending, recent_done} and old_done not in left
    assert shoal_server.shoal.settings.activation_retention_days == 30
