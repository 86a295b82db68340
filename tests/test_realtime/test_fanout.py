"""Live messages: who sees what, in which order, and what a reconnecting client gets."""

from __future__ import annotations

import asyncio

import socketio

from tests.support import ShoalServer, make_house, unique


async def test_two_clients_in_a_room_see_each_others_messages_in_seq_order(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    other = await house.owner.post("/api/agencies", {"name": unique("other"),
                                                     "houseId": house.id})
    other_room = other.json()["id"]
    for person in (house.admin, house.member):
        assert (await person.post(f"/api/agencies/{house.room_id}/join")).status_code == 200
    a, b = await house.admin.socket(), await house.member.socket()
    outsider = await house.owner.socket()
    await a.join(house.room_id)
    await b.join(house.room_id)
    await outsider.join(other_room)

    sends = []
    for i in range(10):
        sender = a if i % 2 == 0 else b
        meta = {"trace": [{"step": f"s{i}", "duration": "3ms", "status": "done"}], "n": i}
        sends.append(sender.call("send-message", {"agencyId": house.room_id,
                                                  "content": f"hello {i}", "metadata": meta}))
    acks = await asyncio.gather(*sends)
    assert all(ack["ok"] for ack in acks)

    for sock in (a, b):
        messages = await sock.wait_for("message", 10)
        seqs = [m["seq"] for m in messages]
        assert seqs == sorted(seqs) and len(set(seqs)) == 10
        by_content = {m["content"]: m for m in messages}
        for i in range(10):
            m = by_content[f"hello {i}"]
            assert m["metadata"]["n"] == i
            assert m["metadata"]["trace"][0]["step"] == f"s{i}"
            assert m["agency_id"] == house.room_id
    await asyncio.sleep(0.2)
    assert outsider.received("message") == []
    for sock in (a, b, outsider):
        await sock.close()


async def test_reconnecting_client_gets_exactly_the_messages_it_missed(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    room = house.room_id
    reader = await house.member.socket()
    await reader.join(room)
    for i in range(3):
        r = await house.owner.post(f"/api/agencies/{room}/messages", {"content": f"before {i}"})
        assert r.status_code == 201
    seen = await reader.wait_for("message", 3)
    last_seq = seen[-1]["seq"]
    await reader.close()

    for i in range(150):  # more than one history page
        r = await house.owner.post(f"/api/agencies/{room}/messages", {"content": f"missed {i}"})
        assert r.status_code == 201

    again = await house.member.socket()
    joined = await again.join(room, lastSeq=last_seq)
    assert joined["replayed"] == 150
    r = await house.owner.post(f"/api/agencies/{room}/messages", {"content": "live"})
    messages = await again.wait_for("message", 151)
    assert [m["content"] for m in messages] == [f"missed {i}" for i in range(150)] + ["live"]
    assert [m["seq"] for m in messages] == list(range(last_seq + 1, last_seq + 152))
    await again.close()


async def test_fifty_concurrent_posters_lose_nothing(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    people = await asyncio.gather(*(shoal_server.register() for _ in range(50)))
    r = await house.owner.post(f"/api/houses/{house.id}/invites", {})
    joins = await asyncio.gather(*(p.post("/api/houses/join", {"code": r.json()["code"]})
                                   for p in people))
    assert all(join.status_code == 200 for join in joins)

    async def post_many(person, n: int) -> list[int]:  # type: ignore[no-untyped-def]
        codes = []
        for i in range(n):
            r = await person.post(f"/api/agencies/{house.room_id}/messages",
                                  {"content": f"{person.id} {i}"})
            codes.append(r.status_code)
            assert "locked" not in r.text
        return codes

    results = await asyncio.gather(*(post_many(p, 4) for p in people))
    assert all(code == 201 for codes in results for code in codes)
    r = await house.owner.get(f"/api/agencies/{house.room_id}/messages",
                              params={"after_seq": 0, "limit": 100})
    got = r.json()
    r2 = await house.owner.get(f"/api/agencies/{house.room_id}/messages",
                               params={"after_seq": got[-1]["seq"], "limit": 100})
    everything = got + r2.json()
    assert len(everything) == 200
    assert [m["seq"] for m in everything] == list(range(1, 201))
    assert {m["content"] for m in everything} == {f"{p.id} {i}" for p in people for i in range(4)}


async def test_a_reader_that_drops_mid_stream_stalls_no_one_on_either_transport(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    room = house.room_id
    readers = [await house.member.socket() for _ in range(3)]
    for reader in readers:
        await reader.join(room)
    polled: list[dict[str, object]] = []
    polling = socketio.AsyncClient(reconnection=False)
    polling.on("message", polled.append)
    await polling.connect(shoal_server.url, auth={"token": house.admin.token},
                          transports=["polling"], wait_timeout=10)
    assert (await polling.call("join-agency", {"agencyId": room}, timeout=10))["ok"]

    async def post(i: int) -> None:
        r = await house.owner.post(f"/api/agencies/{room}/messages", {"content": f"burst {i}"})
        assert r.status_code == 201

    await asyncio.gather(*(post(i) for i in range(15)))
    await readers[0].wait_for("message", 15)
    await readers[0].client.eio.disconnect(abort=True)  # gone without a goodbye
    await asyncio.gather(*(post(i) for i in range(15, 30)))
    for reader in readers[1:]:
        messages = await reader.wait_for("message", 30)
        assert sorted(m["content"] for m in messages) == sorted(f"burst {i}" for i in range(30))
        assert [m["seq"] for m in messages] == sorted(m["seq"] for m in messages)
    async with asyncio.timeout(10):
        while len(polled) < 30:
            await asyncio.sleep(0.05)
    assert [m["seq"] for m in polled] == [m["seq"] for m in readers[1].received("message")]
    await polling.disconnect()
