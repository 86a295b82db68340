"""One bad message never hurts anyone else: unencodable text is refused at the door, a
failing draft fails alone in its group commit, and a refused request keeps its connection."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
import sqlalchemy as sa

from shoal.errors import InvalidInput
from shoal.rooms.messages import Draft, Sender
from shoal.store.tables import User
from tests.support import ShoalServer, make_house, make_settings, serve

SURROGATE_CONTENT = b'{"content": "bad \\udfff text"}'
SURROGATE_METADATA = b'{"content": "fine", "metadata": {"x": "\\udfff"}}'
JSON = {"content-type": "application/json"}


async def post_raw(http: httpx.AsyncClient, room_id: str, body: bytes) -> httpx.Response:
    return await http.post(f"/api/agencies/{room_id}/messages", content=body, headers=JSON)


async def test_surrogates_in_content_fail_alone_in_a_race_with_good_posts(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    good = [
        house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": f"good {n}"})
        for n in range(300)
    ]
    bad = [post_raw(house.admin.http, house.room_id, SURROGATE_CONTENT) for _ in range(100)]
    answers = await asyncio.gather(*good, *bad)
    assert Counter(r.status_code for r in answers[:300]) == {201: 300}
    assert Counter(r.status_code for r in answers[300:]) == {400: 100}
    assert all("content" in r.json()["error"] for r in answers[300:])
    seen = set()
    before = None
    while True:
        params = {"limit": 100, **({"before": before} if before else {})}
        r = await house.owner.get(f"/api/agencies/{house.room_id}/messages", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        if not page:
            break
        seen.update(m["content"] for m in page)
        before = page[-1]["id"]
    assert seen == {f"good {n}" for n in range(300)}


async def test_surrogates_in_metadata_are_refused_and_history_stays_readable(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    r = await post_raw(house.member.http, house.room_id, SURROGATE_METADATA)
    assert r.status_code == 400, r.text
    assert "metadata.x" in r.json()["error"]
    r = await house.member.get(f"/api/agencies/{house.room_id}/messages")
    assert r.status_code == 200, r.text
    assert r.json() == []


async def test_a_draft_the_store_refuses_fails_alone_in_its_group_commit(
    shoal_server: ShoalServer,
) -> None:
    # Drafts that passed every check but that the store refuses (the backstop for text
    # that slipped past the door): the others in the same transaction are kept.
    house = await make_house(shoal_server)
    appender = shoal_server.shoal.chat.appender
    user = await shoal_user(shoal_server, house.member.id)

    async def append(content: str) -> dict[str, Any]:
        return await appender.append(house.room_id, Draft(Sender(user), content), check=True)

    contents = [f"kept {n}" if n % 4 else f"refused {n} \udfff" for n in range(40)]
    answers = await asyncio.gather(*(append(c) for c in contents), return_exceptions=True)
    for content, answer in zip(contents, answers, strict=True):
        if content.startswith("kept"):
            assert isinstance(answer, dict) and answer["content"] == content, answer
        else:
            assert isinstance(answer, InvalidInput), answer
            assert "surrogate" in answer.message
    r = await house.member.get(
        f"/api/agencies/{house.room_id}/messages", params={"after_seq": 0, "limit": 100}
    )
    assert r.status_code == 200, r.text
    assert [m["content"] for m in r.json()] == [c for c in contents if c.startswith("kept")]


async def test_a_poster_that_stops_waiting_does_not_fail_the_others(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    appender = shoal_server.shoal.chat.appender
    user = await shoal_user(shoal_server, house.member.id)
    posts = [
        asyncio.create_task(
            appender.append(house.room_id, Draft(Sender(user), f"post {n}"), check=True)
        )
        for n in range(10)
    ]
    await asyncio.sleep(0)  # every post is queued, none written yet
    posts[0].cancel()
    answers = await asyncio.gather(*posts[1:])
    assert [a["content"] for a in answers] == [f"post {n}" for n in range(1, 10)]


async def test_socket_events_with_unusable_text_are_refused_naming_the_field(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    sock = await house.member.socket()
    await sock.join(house.room_id)
    for payload, field in [
        ({"agencyId": house.room_id, "content": "bad \udfff"}, "content"),
        (
            {"agencyId": house.room_id, "content": "ok", "metadata": {"x": ["\ud800"]}},
            "metadata.x[0]",
        ),
        ({"agencyId": house.room_id, "content": "ok", "metadata": deep(80)}, "metadata"),
        ({"agencyId": house.room_id, "content": "nul \x00"}, "content"),
    ]:
        ack = await sock.call("send-message", payload)
        assert ack["ok"] is False and ack["error"].startswith(field), ack
    ack = await sock.call("send-message", {"agencyId": house.room_id, "content": "still here"})
    assert ack.get("ok") is not False, ack
    r = await house.member.get(f"/api/agencies/{house.room_id}/messages")
    assert r.status_code == 200
    assert [m["content"] for m in r.json()] == ["still here"]
    await sock.close()


async def test_the_same_connection_serves_again_after_refused_requests(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    url = httpx.URL(shoal_server.url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    path = f"/api/agencies/{house.room_id}/messages"
    try:
        for body in (
            SURROGATE_CONTENT,
            SURROGATE_METADATA,
            b'{"content": ',
            b"[" * 5000,
            b'{"content": "\xff"}',
        ):
            status, answer = await exchange(reader, writer, "POST", path, house.member.token, body)
            assert status == 400, answer
            assert b'"error"' in answer
        status, answer = await exchange(
            reader, writer, "POST", path, house.member.token, b'{"content": "after the bad ones"}'
        )
        assert status == 201, answer
    finally:
        writer.close()


@pytest.fixture
async def sqlite_server(tmp_path: Path) -> AsyncIterator[ShoalServer]:
    """A Shoal on SQLite alone: only there could an older version have stored a lone
    surrogate (ASCII-escaped inside JSON); PostgreSQL's JSONB never accepted one."""
    async for server in serve(make_settings(tmp_path, "sqlite")):
        await server.bootstrap()
        yield server


async def test_an_old_row_holding_a_lone_surrogate_reads_back_with_a_replacement_character(
    sqlite_server: ShoalServer,
) -> None:
    house = await make_house(sqlite_server)
    r = await house.member.post(
        f"/api/agencies/{house.room_id}/messages", {"content": "from an older version"}
    )
    assert r.status_code == 201, r.text
    # Written as an older Shoal wrote metadata: json.dumps, which escapes the surrogate.
    async with sqlite_server.shoal.db.engine.begin() as conn:
        await conn.execute(
            sa.text("UPDATE messages SET metadata = :meta WHERE id = :id"),
            {"meta": '{"note": "bad \\udfff end", "bad \\ud800": 1}', "id": r.json()["id"]},
        )
    r = await house.member.get(f"/api/agencies/{house.room_id}/messages")
    assert r.status_code == 200, r.text
    [message] = r.json()
    assert message["content"] == "from an older version"
    assert message["metadata"] == {"note": "bad \ufffd end", "bad \ufffd": 1}


async def test_a_handshake_with_unusable_auth_is_refused_and_others_still_connect(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    refusals: list[Any] = []
    client = socketio.AsyncClient(reconnection=False)
    client.on("connect_error", refusals.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        await client.connect(
            shoal_server.url,
            auth={"token": house.member.token + "\udfff"},
            transports=["websocket"],
            wait_timeout=10,
        )
    assert any("auth.token" in str(r) and "surrogate" in str(r) for r in refusals), refusals
    sock = await house.member.socket()
    await sock.join(house.room_id)
    ack = await sock.call("send-message", {"agencyId": house.room_id, "content": "still on"})
    assert ack.get("ok") is not False, ack
    await sock.close()


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = {"down": value}
    return value


async def shoal_user(server: ShoalServer, user_id: str) -> User:
    async with server.shoal.db.read() as session:
        user = await session.get(User, user_id)
    assert user is not None
    return user


async def exchange(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    method: str,
    path: str,
    token: str,
    body: bytes,
) -> tuple[int, bytes]:
    """One HTTP/1.1 request and its answer on an open keep-alive connection."""
    head = (
        f"{method} {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()
    status_line = await reader.readline()
    assert status_line, "the server closed the connection"
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return int(status_line.split()[1]), await reader.readexactly(length)
