"""Accounts, sessions, tokens and bots: what a person or an agent sees when logging in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import socketio
from sqlalchemy import select, update

from shoal.crypto import hash_token
from shoal.store.tables import Token
from tests.support import ShoalServer, make_house, make_settings, serve, unique


async def test_register_login_and_me(shoal_server: ShoalServer) -> None:
    http = shoal_server.http()
    name = unique()
    r = await http.post("/api/auth/register", json={"username": name, "password": "longenough",
                                                    "displayName": "Ada L"})
    assert r.status_code == 201
    assert r.json()["user"]["username"] == name and r.json()["user"]["display_name"] == "Ada L"
    r = await http.post("/api/auth/login", json={"username": name.upper(),
                                                 "password": "longenough"})
    assert r.status_code == 200
    me = await shoal_server.http(r.json()["token"]).get("/api/auth/me")
    assert me.json()["username"] == name
    # A new user is a member of the default house.
    assert [(h["id"], h["role"]) for h in me.json()["houses"]] == [(shoal_server.home_id,
                                                                    "member")]
    members = await shoal_server.http(r.json()["token"]).get(
        f"/api/houses/{shoal_server.home_id}/members")
    assert any(m["handle"] == "ada-l" or m["handle"].startswith("ada-l-")
               for m in members.json() if m["username"] == name)


@pytest.mark.parametrize("body, message", [
    ({"username": "a", "password": "longenough"}, "username must be 2-24"),
    ({"username": "has space", "password": "longenough"}, "username must be 2-24"),
    ({"username": "x" * 25, "password": "longenough"}, "username must be 2-24"),
    ({"username": "okname", "password": "short"}, "at least 8"),
    ({"password": "longenough"}, "username is required"),
])
async def test_register_rejects_bad_input(shoal_server: ShoalServer, body: dict, message: str
                                          ) -> None:
    r = await shoal_server.http().post("/api/auth/register", json=body)
    assert r.status_code == 400 and message in r.json()["error"]


async def test_duplicate_username_and_wrong_password(shoal_server: ShoalServer) -> None:
    person = await shoal_server.register()
    http = shoal_server.http()
    r = await http.post("/api/auth/register", json={"username": person.user["username"].upper(),
                                                    "password": "longenough"})
    assert r.status_code == 409 and "taken" in r.json()["error"]
    r = await http.post("/api/auth/login", json={"username": person.user["username"],
                                                 "password": "wrong password"})
    assert r.status_code == 401 and r.json() == {"error": "wrong username or password"}
    r = await http.post("/api/auth/login", json={"username": "nobody-here", "password": "x" * 9})
    assert r.status_code == 401 and r.json() == {"error": "wrong username or password"}


async def test_login_is_rate_limited_per_client(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite", auth_attempts_per_minute=10)
    async for server in serve(settings):
        http = server.http()
        codes = []
        for _ in range(11):
            r = await http.post("/api/auth/login", json={"username": "ghost", "password": "x" * 9})
            codes.append(r.status_code)
        assert codes == [401] * 10 + [429]
        assert 1 <= int(r.headers["Retry-After"]) <= 60
        assert "too many attempts" in r.json()["error"]
        # Registration counts separately, with the same limit.
        for i in range(10):
            r = await http.post("/api/auth/register", json={"username": f"rl{i}",
                                                            "password": "longenough"})
            assert r.status_code == 201
        r = await http.post("/api/auth/register", json={"username": "rl10", "password": "x" * 9})
        assert r.status_code == 429


async def test_invite_only_registration(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "sqlite", open_registration=False)
    async for server in serve(settings):
        await server.bootstrap()
        http = server.http()
        r = await http.post("/api/auth/register", json={"username": "walkin", "password": "x" * 9})
        assert r.status_code == 403 and "invitation" in r.json()["error"]
        r = await http.post("/api/auth/register", json={"username": "walkin", "password": "x" * 9,
                                                        "inviteCode": "shi_made_up"})
        assert r.status_code == 403 and "not valid" in r.json()["error"]
        # The username was not taken by the refused attempt.
        from shoal.rooms.invites import create_invite

        async with server.shoal.db.write() as session:
            _, code = await create_invite(session, server.home_id, None, "owner", max_uses=1)
        r = await http.post("/api/auth/register", json={"username": "walkin", "password": "x" * 9,
                                                        "inviteCode": code})
        assert r.status_code == 201
        me = await server.http(r.json()["token"]).get("/api/auth/me")
        assert me.json()["houses"][0]["id"] == server.home_id
        r = await http.post("/api/auth/register", json={"username": "second", "password": "x" * 9,
                                                        "inviteCode": code})
        assert r.status_code == 403 and "used up" in r.json()["error"]


async def test_personal_access_tokens(shoal_server: ShoalServer) -> None:
    person = await shoal_server.register()
    r = await person.post("/api/auth/tokens", {"name": "ci", "expires": "30d"})
    assert r.status_code == 201
    pat, pat_id = r.json()["token"], r.json()["id"]
    assert pat.startswith("shp_") and r.json()["expires_at"].endswith("Z")
    listed = (await person.get("/api/auth/tokens")).json()
    assert [t["name"] for t in listed] == ["ci"] and "token" not in listed[0]
    assert listed[0]["last_used_at"] is None
    me = await shoal_server.http(pat).get("/api/auth/me")
    assert me.status_code == 200 and me.json()["id"] == person.id
    listed = (await person.get("/api/auth/tokens")).json()
    assert listed[0]["last_used_at"] is not None
    # Stored only as a hash.
    async with shoal_server.shoal.db.read() as session:
        row = await session.get(Token, pat_id)
    assert row is not None and row.token_hash == hash_token(pat) and pat not in str(vars(row))
    r = await person.post("/api/auth/tokens", {"name": "x", "expires": "soon"})
    assert r.status_code == 400 and "30d" in r.json()["error"]


async def test_revoked_token_fails_and_its_sockets_are_disconnected(
    shoal_server: ShoalServer,
) -> None:
    person = await shoal_server.register()
    r = await person.post("/api/auth/tokens", {"name": "laptop"})
    pat, pat_id = r.json()["token"], r.json()["id"]
    sock = await shoal_server.socket(pat)
    await sock.join(shoal_server.lobby_id)
    disconnected = asyncio.Event()
    sock.client.on("disconnect", lambda *a: disconnected.set())
    r = await person.delete(f"/api/auth/tokens/{pat_id}")
    assert r.status_code == 200 and r.json()["revoked_at"]
    await asyncio.wait_for(disconnected.wait(), 5)
    r = await shoal_server.http(pat).get("/api/auth/me")
    assert r.status_code == 401 and r.json() == {"error": "token has been revoked"}
    with pytest.raises(socketio.exceptions.ConnectionError, match="revoked"):
        await shoal_server.socket(pat)
    # The session the person logged in with still works.
    assert (await person.get("/api/auth/me")).status_code == 200


async def test_expired_session_is_refused(shoal_server: ShoalServer) -> None:
    person = await shoal_server.register()
    async with shoal_server.shoal.db.write() as session:
        await session.execute(update(Token).where(Token.token_hash == hash_token(person.token))
                              .values(expires_at=Token.created_at))
    r = await person.get("/api/auth/me")
    assert r.status_code == 401 and r.json() == {"error": "token has expired"}


async def test_logout_revokes_the_session(shoal_server: ShoalServer) -> None:
    person = await shoal_server.register()
    assert (await person.post("/api/auth/logout")).status_code == 200
    assert (await person.get("/api/auth/me")).status_code == 401


async def test_an_unverified_bots_token_opens_nothing_until_an_admin_verifies_it(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await house.member.post("/api/agents", {"name": unique("bot"), "agencyId": house.room_id})
    assert r.status_code == 201, r.text
    agent_id, raw = r.json()["agent"]["id"], r.json()["agentToken"]
    bot = shoal_server.http(raw)
    refusals = [
        await bot.get("/api/auth/me"),
        await bot.post(f"/api/agencies/{house.room_id}/messages", json={"content": "hi"}),
        await bot.get(f"/api/agencies/{house.room_id}/messages"),
        await shoal_server.http().post("/api/auth/agent", json={"agentToken": raw}),
    ]
    for refused in refusals:
        assert refused.status_code == 403, refused.text
        assert "owner or a house admin must verify it" in refused.json()["error"]
    with pytest.raises(socketio.exceptions.ConnectionError, match="must verify it"):
        await shoal_server.socket(raw)
    history = (await house.owner.get(f"/api/agencies/{house.room_id}/messages")).json()
    assert "hi" not in [m["content"] for m in history]

    # A house admin who does not own the bot may verify it, as the README says.
    r = await house.admin.post(f"/api/agents/{agent_id}/verify")
    assert r.status_code == 200 and r.json()["agent"]["status"] == "active", r.text
    assert (await bot.get("/api/auth/me")).json()["id"] == agent_id
    sock = await shoal_server.socket(raw)
    assert (await sock.join(house.room_id))["ok"]
    await sock.close()


async def test_bot_token_opens_an_agent_session_once_verified(shoal_server: ShoalServer) -> None:
    owner = await shoal_server.register()
    r = await owner.post("/api/agents", {"name": "Archive Bot", "agencyId": shoal_server.lobby_id,
                                         "role": "librarian"})
    assert r.status_code == 201, r.text
    agent, agent_token = r.json()["agent"], r.json()["agentToken"]
    assert agent["username"].startswith("archive-bot") and agent["verified"] is False
    http = shoal_server.http()
    r = await http.post("/api/auth/agent", json={"agentToken": agent_token})
    assert r.status_code == 403 and "verified" in r.json()["error"]
    r = await http.post("/api/auth/agent", json={"agentToken": "shb_wrong"})
    assert r.status_code == 401
    r = await http.post("/api/auth/agent", json={"agentToken": owner.token})
    assert r.status_code == 401  # a person's session is not an agent token
    stranger = await shoal_server.register()
    assert (await stranger.post(f"/api/agents/{agent['id']}/verify")).status_code in (403, 404)
    assert (await owner.post(f"/api/agents/{agent['id']}/verify")).status_code == 200
    r = await http.post("/api/auth/agent", json={"agentToken": agent_token})
    assert r.status_code == 200
    session_token = r.json()["token"]
    assert r.json()["user"]["type"] == "agent"
    # The agent talks in the lobby it was added to, as any member does.
    bot_sock = await shoal_server.socket(session_token)
    await bot_sock.join(shoal_server.lobby_id)
    ack = await bot_sock.call("send-message", {"agencyId": shoal_server.lobby_id,
                                               "content": "indexing done"})
    assert ack["ok"] and ack["message"]["sender_type"] == "agent"
    assert ack["message"]["sender_handle"] == agent["username"]
    # Its owner lists it, sees its config without secrets.
    assert [a["id"] for a in (await owner.get("/api/agents")).json()] == [agent["id"]]
    r = await owner.patch(f"/api/agents/{agent['id']}/config",
                          {"response_webhook_secret": "s3cr3t-value", "personality": "terse"})
    assert r.status_code == 200
    config = (await owner.get(f"/api/agents/{agent['id']}/config")).json()["config"]
    assert config["response_webhook_secret"] is True and config["personality"] == "terse"
    assert "s3cr3t-value" not in str(config)
    # Deleting the bot ends its session.
    assert (await owner.delete(f"/api/agents/{agent['id']}")).status_code == 200
    assert (await shoal_server.http(session_token).get("/api/auth/me")).status_code == 401


async def test_unauthenticated_requests_and_sockets_are_refused(
    shoal_server: ShoalServer,
) -> None:
    r = await shoal_server.http().get("/api/agencies")
    assert r.status_code == 401 and "Bearer" in r.json()["error"]
    r = await shoal_server.http("garbage").get("/api/agencies")
    assert r.status_code == 401 and r.json() == {"error": "invalid token"}
    with pytest.raises(socketio.exceptions.ConnectionError, match="invalid token"):
        await shoal_server.socket("garbage")
    with pytest.raises(socketio.exceptions.ConnectionError, match="authentication required"):
        await shoal_server.socket("")


async def test_no_token_is_stored_in_plaintext(shoal_server: ShoalServer) -> None:
    person = await shoal_server.register()
    r = await person.post("/api/auth/tokens", {"name": "scan"})
    async with shoal_server.shoal.db.read() as session:
        hashes = set((await session.scalars(select(Token.token_hash))).all())
    for token in (person.token, r.json()["token"]):
        assert token not in hashes and hash_token(token) in hashes
