"""Files on messages: upload, attach, read back with and without access, limits (413, 415),
signed links, files reaching webhook and SDK agents, and deleting a message deleting its files."""

from __future__ import annotations

import asyncio
import io
import os
import time
from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import delete as sa_delete
from sqlalchemy import update

from shoal.ids import new_id
from shoal.rooms.attachments import MAX_PENDING, PENDING_HOURS, SWEEP_GRACE, AttachmentRules
from shoal.rooms.tables import Attachment
from shoal.sdk import Agent, Message
from shoal.store.tables import House, Room, utcnow
from tests.support import Person, ShoalServer, make_house
from tests.test_sdk.bots import make_sdk_bot

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x03\x00\x08\xfc\x02\xfe\xa7"
       b"\x9a\xa0\xa0\x00\x00\x00\x00IEND\xaeB`\x82")


async def upload(person: Person, room_id: str, data: bytes, name: str = "dot.png",
                 content_type: str = "image/png") -> httpx.Response:
    return await person.http.post(f"/api/agencies/{room_id}/attachments",
                                  files={"file": (name, data, content_type)})


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


async def test_upload_attach_and_read_back_with_and_without_access(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await upload(house.member, house.room_id, PNG, name="../../etc/dot.png")
    assert r.status_code == 201, r.text
    file = r.json()
    assert file["name"] == "dot.png" and file["size"] == len(PNG)
    assert file["content_type"] == "image/png" and file["url"] == f"/api/attachments/{file['id']}"
    # Before it is posted, only its uploader reads it.
    assert (await house.member.get(file["url"])).content == PNG
    assert (await house.admin.get(file["url"])).status_code == 404

    r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                {"content": "", "attachments": [file["id"]]})
    assert r.status_code == 201, r.text
    message = r.json()
    assert [a["id"] for a in message["attachments"]] == [file["id"]]
    assert message["attachments"][0]["url"] == file["url"]
    history = (await house.guest.get(f"/api/agencies/{house.room_id}/messages")).json()
    assert history[0]["attachments"][0]["name"] == "dot.png"
    got = await house.guest.get(file["url"])  # a guest reads the room, so reads its files
    assert got.status_code == 200 and got.content == PNG
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("inline;")

    outsider = await shoal_server.register()
    assert (await outsider.get(file["url"])).status_code == 404
    anonymous = shoal_server.http()
    r = await anonymous.get(file["url"])
    assert r.status_code == 401 and "signed link" in r.json()["error"]
    # A guest cannot upload; a file is posted once; someone else's upload is not yours.
    r = await upload(house.guest, house.room_id, PNG)
    assert r.status_code == 403
    r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                {"content": "again", "attachments": [file["id"]]})
    assert r.status_code == 409 and "already on a message" in r.json()["error"]
    mine = (await upload(house.admin, house.room_id, PNG)).json()
    r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                {"content": "stolen", "attachments": [mine["id"]]})
    assert r.status_code == 400 and "not one of your uploads" in r.json()["error"]
    r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                {"content": "x", "attachments": "nope"})
    assert r.status_code == 400


async def test_limits_are_refused_with_413_and_415(shoal_server: ShoalServer,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    house = await make_house(shoal_server)
    monkeypatch.setattr(shoal_server.shoal.attachments, "rules",
                        AttachmentRules.parse(2048, "image/*,text/plain"))
    r = await upload(house.member, house.room_id, os.urandom(4096), name="big.png")
    assert r.status_code == 413
    assert r.json()["error"] == ("the file is 4096 bytes; the limit is 2048 bytes (0.0 MiB)")
    r = await upload(house.member, house.room_id, b"<html></html>", name="page.html",
                     content_type="text/html")
    assert r.status_code == 415
    assert r.json()["error"].startswith("files of type text/html are not accepted here")
    r = await upload(house.member, house.room_id, b"fine", name="notes.txt",
                     content_type="text/plain")
    assert r.status_code == 201, r.text
    assert r.json()["content_type"] == "text/plain"
    r = await house.member.http.post(f"/api/agencies/{house.room_id}/attachments",
                                     files={"other": ("x.txt", b"x", "text/plain")})
    assert r.status_code == 400 and 'field named "file"' in r.json()["error"]
    # Beyond the server's own cap the body is refused before it is read.
    cap = shoal_server.shoal.settings.attachment_max_bytes
    r = await upload(house.member, house.room_id, b"\0" * (cap + 70 * 1024))
    assert r.status_code == 413 and "attachment limit" in r.json()["error"]


async def test_signed_links_work_without_a_session_until_they_expire(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    file = (await upload(house.member, house.room_id, PNG)).json()
    await house.member.post(f"/api/agencies/{house.room_id}/messages",
                            {"content": "see", "attachments": [file["id"]]})
    outsider = await shoal_server.register()
    assert (await outsider.post(f"{file['url']}/link")).status_code == 404
    r = await house.guest.post(f"{file['url']}/link")
    assert r.status_code == 200, r.text
    link = r.json()
    assert link["expires"] > time.time()
    anonymous = shoal_server.http()
    assert (await anonymous.get(path_of(link["url"]))).content == PNG
    tampered = path_of(link["url"])[:-1] + ("0" if link["url"][-1] != "0" else "1")
    r = await anonymous.get(tampered)
    assert r.status_code == 403 and "expired" in r.json()["error"]
    signer = shoal_server.shoal.attachments.signer
    old, _ = signer.sign(file["id"], now=time.time() - signer.ttl_seconds - 5)
    assert (await anonymous.get(path_of(old))).status_code == 403


async def test_deleting_a_message_deletes_its_files(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    file = (await upload(house.member, house.room_id, PNG)).json()
    r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                {"content": "oops", "attachments": [file["id"]]})
    stored = shoal_server.shoal.files.path(file["id"])
    assert stored.read_bytes() == PNG
    assert shoal_server.shoal.files.root in stored.parents
    r = await house.member.delete(f"/api/messages/{r.json()['id']}")
    assert r.status_code == 200 and r.json()["attachments"] == []
    assert (await house.member.get(file["url"])).status_code == 404
    assert not stored.exists()


async def test_an_sdk_agent_uploads_sends_and_reads_attachments(
        shoal_server: ShoalServer) -> None:
    bot = await make_sdk_bot(shoal_server)
    agent = Agent(shoal_server.url, bot.token)
    room_id = await agent.connect_and_join(bot.house.room_id)
    heard: list[Message] = []
    agent.on("message", heard.append)
    try:
        report = await agent.upload(b"all green\n", "report.txt", "text/plain")
        sent = await agent.send("today's report", attachments=[report])
        assert [a["name"] for a in sent.raw["attachments"]] == ["report.txt"]
        got = await bot.house.member.get(report["url"])
        assert got.content == b"all green\n"
        assert got.headers["content-disposition"].startswith("attachment;")

        file = (await upload(bot.house.member, room_id, PNG)).json()
        await bot.house.member.post(f"/api/agencies/{room_id}/messages", {
            "content": f"@{bot.username} look", "attachments": [file["id"]]})
        message = await wait_for_message(heard, f"@{bot.username} look")
        [item] = message.raw["attachments"]
        assert await agent.download(item) == PNG
        link = await agent.attachment_link(item)
        assert (await shoal_server.http().get(path_of(link))).content == PNG
    finally:
        await agent.close()


async def test_sdk_agents_get_signed_links_that_download_and_expire(
        shoal_server: ShoalServer, monkeypatch: pytest.MonkeyPatch) -> None:
    bot = await make_sdk_bot(shoal_server)
    person = await bot.house.member.socket()
    await person.join(bot.house.room_id)
    agent = Agent(shoal_server.url, bot.token)
    room_id = await agent.connect_and_join(bot.house.room_id)
    heard: list[Message] = []
    agent.on("message", heard.append)
    try:
        file = (await upload(bot.house.member, room_id, PNG)).json()
        r = await bot.house.member.post(f"/api/agencies/{room_id}/messages", {
            "content": f"@{bot.username} here", "attachments": [file["id"]]})
        posted = r.json()
        [item] = (await wait_for_message(heard, f"@{bot.username} here")).raw["attachments"]
        # The agent's copy carries a link that works without any session...
        assert item["id"] == file["id"] and item["url"] == file["url"]
        assert item["signed_url_expires"] > time.time()
        anonymous = shoal_server.http()
        got = await anonymous.get(path_of(item["signed_url"]))
        assert got.status_code == 200 and got.content == PNG
        assert await agent.attachment_link(item) == item["signed_url"]
        # ...while people's browsers get the message as it was, read with their session.
        [seen] = [m for m in await person.wait_for("message")
                  if m["id"] == posted["id"]]
        assert seen["attachments"] == posted["attachments"]
        assert "signed_url" not in seen["attachments"][0]
        # A bot that joins again from an earlier seq gets the replayed copy with a link too.
        replay = await shoal_server.socket(bot.token)
        await replay.join(room_id, lastSeq=posted["seq"] - 1)
        [again] = [m for m in replay.received("message") if m["id"] == posted["id"]]
        assert (await anonymous.get(path_of(
            again["attachments"][0]["signed_url"]))).content == PNG
        await replay.close()

        # Links last `attachment_link_seconds`: with one second, a link soon stops working.
        monkeypatch.setattr(shoal_server.shoal.attachments.signer, "ttl_seconds", 1)
        await bot.house.member.post(f"/api/agencies/{room_id}/messages", {
            "content": "short-lived", "attachments": [
                (await upload(bot.house.member, room_id, PNG)).json()["id"]]})
        [brief] = (await wait_for_message(heard, "short-lived")).raw["attachments"]
        await asyncio.sleep(2.1)
        r = await anonymous.get(path_of(brief["signed_url"]))
        assert r.status_code == 403 and "expired" in r.json()["error"]
        assert await agent.download(brief) == PNG  # the agent's own session still reads it
    finally:
        await agent.close()
        await person.close()


async def wait_for_message(heard: list[Message], content: str) -> Message:
    async with asyncio.timeout(5):
        while not any(m.content == content for m in heard):
            await asyncio.sleep(0.02)
    return next(m for m in heard if m.content == content)


async def test_uploads_no_message_takes_are_capped_and_expire(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    waiting = [(await upload(house.member, house.room_id, b"x", name=f"{i}.txt",
                             content_type="text/plain")).json() for i in range(MAX_PENDING)]
    r = await upload(house.member, house.room_id, b"x", name="one-more.txt",
                     content_type="text/plain")
    assert r.status_code == 429
    assert r.json()["error"].startswith(f"you have {MAX_PENDING} uploaded files that no message")
    # Posting one frees a place.
    r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                {"content": "one", "attachments": [waiting[0]["id"]]})
    assert r.status_code == 201
    assert (await upload(house.member, house.room_id, b"x", name="now.txt",
                         content_type="text/plain")).status_code == 201
    # A day later the uploads no message took are gone, bytes and all.
    stale = waiting[1]["id"]
    async with shoal_server.shoal.db.write() as session:
        await session.execute(update(Attachment).where(Attachment.id == stale).values(
            created_at=utcnow() - timedelta(hours=PENDING_HOURS, minutes=1)))
    r = await upload(house.member, house.room_id, b"x", name="later.txt",
                     content_type="text/plain")
    assert r.status_code == 201, r.text
    assert (await house.member.get(f"/api/attachments/{stale}")).status_code == 404
    assert not shoal_server.shoal.files.path(stale).exists()


async def test_the_sweep_deletes_files_whose_room_or_house_is_gone(
        shoal_server: ShoalServer) -> None:
    shoal = shoal_server.shoal
    house, other = await make_house(shoal_server), await make_house(shoal_server)
    r = await house.owner.post("/api/agencies", {"name": "doomed", "houseId": house.id})
    doomed = r.json()["id"]

    async def posted(person: Person, room_id: str) -> str:
        file = (await upload(person, room_id, PNG)).json()
        r = await person.post(f"/api/agencies/{room_id}/messages",
                              {"content": "file", "attachments": [file["id"]]})
        assert r.status_code == 201, r.text
        return str(file["id"])

    kept = await posted(house.owner, house.room_id)
    in_room = await posted(house.owner, doomed)
    in_house = await posted(other.owner, other.room_id)
    waiting = (await upload(house.owner, house.room_id, PNG)).json()["id"]
    # A room and a house go, their records with them (as an operator removing them does).
    async with shoal.db.write() as session:
        await session.execute(sa_delete(Room).where(Room.id == doomed))
        await session.execute(sa_delete(House).where(House.id == other.id))
    gone = [in_room, in_house]
    for key in gone:
        assert (await house.owner.get(f"/api/attachments/{key}")).status_code == 404
    # Files younger than the grace may be uploads whose record is not written yet.
    in_flight = new_id()
    await shoal.files.save(in_flight, io.BytesIO(b"half-way"))
    assert await shoal.attachments.sweep() == 0
    assert all(shoal.files.path(key).exists() for key in [*gone, kept, in_flight])

    hour_ago = time.time() - SWEEP_GRACE.total_seconds() - 60
    for key in [*gone, kept, waiting, in_flight]:
        os.utime(shoal.files.path(key), (hour_ago, hour_ago))
    async with shoal.db.write() as session:  # and an upload no message took in a day
        await session.execute(update(Attachment).where(Attachment.id == waiting).values(
            created_at=utcnow() - timedelta(hours=PENDING_HOURS, minutes=1)))
    assert await shoal.attachments.sweep() == 4
    for key in [*gone, waiting, in_flight]:
        assert not shoal.files.path(key).exists()
    assert (await house.member.get(f"/api/attachments/{kept}")).content == PNG
    assert await shoal.attachments.sweep() == 0
