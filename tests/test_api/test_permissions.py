"""Who may do what: every REST route and every socket event, for every kind of caller.

The matrix is data. A row names a route exactly as the app declares it (or a socket event),
the targets it is called against (made fresh per call where the call changes them), and the
status each principal gets; its effect check then looks at the state the call left behind.
A route or event the app serves without a row fails `test_every_route_and_event_has_a_row`.

Principals: the owner, an admin, a member and a guest of one house; a non-member (a user of
another house); and a revoked token (the owner's own PAT, revoked through the API).
Socket acks use the same codes: 200 is `{ok: true}`, 403 and 404 are `{ok: false}` refusals
("your role ... may not", "... not found"), and 401 means the connection itself is refused.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import socketio

from tests.support import ShoalServer, make_house, unique
from tests.test_api.matrix import (
    NA,
    PRINCIPALS,
    PUBLIC,
    Caller,
    Cell,
    Emit,
    Rest,
    World,
    anyone,
    author_id,
    authors_bot,
    authors_message,
    authors_pat,
    authors_pat_still_live,
    bearer,
    bot_added_only_if_allowed,
    bot_config_changed_only_if_allowed,
    bot_created_only_if_allowed,
    bot_deleted_only_if_allowed,
    bot_verified_only_if_allowed,
    caller_joined_only_if_allowed,
    caller_left_only_if_allowed,
    caller_username,
    deleted_only_if_allowed,
    edited_only_if_allowed,
    expect,
    hears_the_room_only_if_allowed,
    house_id,
    house_renamed_only_if_allowed,
    invite_created_only_if_allowed,
    invite_revoked_only_if_allowed,
    invited_only_if_allowed,
    joined_the_other_house,
    lists_rooms_the_caller_may_see,
    lists_the_house_to_its_members,
    needs,
    new_admin,
    new_count,
    new_invite,
    new_member,
    new_member_handle,
    new_name,
    new_room,
    new_room_joined_by_caller,
    new_room_with_caller,
    old_bot_token_revoked_only_if_allowed,
    other_house_code,
    own_message,
    own_pat,
    own_session,
    pat_revoked_only_if_allowed,
    posted_only_if_allowed,
    presence_only_from_those_who_joined,
    private_room,
    private_room_id,
    private_room_listed_only_to_its_member,
    public_room,
    removed_only_if_allowed,
    role_becomes,
    room_created_only_if_allowed,
    room_renamed_only_if_allowed,
    session_is_revoked,
    shows_the_caller,
    thinking_heard_only_if_allowed,
    verified_bot_token,
)


def feature_rows(kind: str) -> list[Any]:
    """The rows of every `matrix_<feature>.py` beside this file (`REST_ROWS`, `SOCKET_ROWS`),
    so a feature brings its own rows without editing this list."""
    rows: list[Any] = []
    for path in sorted(Path(__file__).parent.glob("matrix_*.py")):
        module = importlib.import_module(f"tests.test_api.{path.stem}")
        rows.extend(getattr(module, kind, []))
    return rows


# (method, route) the matrix leaves out, each with its reason. Keep it short.
UNCOVERED_ROUTES: dict[tuple[str, str], str] = {}

HOUSE = {"house_id": house_id}
ROOM = {"agency_id": public_room}
PRIVATE = {"agency_id": private_room_id}

REST_ROWS = [
    Rest("GET", "/api/health", PUBLIC),
    Rest("GET", "/api/ready", PUBLIC),
    Rest("POST", "/api/auth/register", expect(*[201] * 6), ids={"name": new_name},
         body=lambda t: {"username": t["name"], "password": "correct horse"}),
    Rest("POST", "/api/auth/login", PUBLIC, ids={"name": caller_username},
         body=lambda t: {"username": t["name"], "password": "correct horse"}),
    Rest("POST", "/api/auth/agent", PUBLIC, ids={"token": verified_bot_token},
         body=lambda t: {"agentToken": t["token"]}),
    Rest("GET", "/api/auth/me", anyone(), effect=shows_the_caller),
    Rest("POST", "/api/auth/logout", anyone(), ids={"session": own_session}, token="session",
         effect=session_is_revoked),
    Rest("POST", "/api/auth/tokens", anyone(201), body=lambda t: {"name": "matrix"}),
    Rest("GET", "/api/auth/tokens", anyone()),
    Rest("DELETE", "/api/auth/tokens/{token_id}", anyone(), "own",
         ids={"token_id": own_pat}, effect=pat_revoked_only_if_allowed),
    Rest("DELETE", "/api/auth/tokens/{token_id}", expect(404, 404, 404, 404, 404), "another's",
         ids={"token_id": authors_pat}, effect=authors_pat_still_live),

    Rest("POST", "/api/agents", needs("member", 201), ids={**HOUSE, "name": new_name},
         body=lambda t: {"name": t["name"], "houseId": t["house_id"]},
         effect=bot_created_only_if_allowed),
    Rest("GET", "/api/agents", anyone()),
    Rest("POST", "/api/agents/{agent_id}/verify", needs("admin"), "another's bot",
         ids={"agent_id": authors_bot}, effect=bot_verified_only_if_allowed),
    Rest("GET", "/api/agents/{agent_id}/config", needs("admin"), "another's bot",
         ids={"agent_id": authors_bot}),
    Rest("GET", "/api/agents/{agent_id}/tools", needs("admin"), "another's bot",
         ids={"agent_id": authors_bot}),
    Rest("PATCH", "/api/agents/{agent_id}/config", needs("admin"), "another's bot",
         ids={"agent_id": authors_bot, "name": new_name}, body=lambda t: {"role": t["name"]},
         effect=bot_config_changed_only_if_allowed),
    Rest("POST", "/api/agents/{agent_id}/tokens", needs("admin", 201), "another's bot",
         ids={"agent_id": authors_bot}, effect=old_bot_token_revoked_only_if_allowed),
    Rest("DELETE", "/api/agents/{agent_id}", needs("admin"), "another's bot",
         ids={"agent_id": authors_bot}, effect=bot_deleted_only_if_allowed),
    Rest("GET", "/api/agents/{agent_id}/activations", needs("guest"), "a bot of the house",
         ids={"agent_id": authors_bot}),

    Rest("GET", "/api/agencies", anyone(), effect=lists_rooms_the_caller_may_see),
    Rest("POST", "/api/agencies", needs("member", 201), ids={**HOUSE, "name": new_name},
         body=lambda t: {"name": t["name"], "houseId": t["house_id"]},
         effect=room_created_only_if_allowed),
    Rest("GET", "/api/agencies/{agency_id}", needs("guest"), "public", ids=ROOM),
    Rest("GET", "/api/agencies/{agency_id}", private_room(), "private", ids=PRIVATE),
    Rest("PATCH", "/api/agencies/{agency_id}", needs("admin"),
         ids={"agency_id": new_room, "name": new_name}, body=lambda t: {"name": t["name"]},
         effect=room_renamed_only_if_allowed),
    Rest("GET", "/api/agencies/{agency_id}/members", needs("guest"), "public", ids=ROOM),
    Rest("GET", "/api/agencies/{agency_id}/members", private_room(), "private", ids=PRIVATE),
    Rest("GET", "/api/agencies/{agency_id}/messages", needs("guest"), "public", ids=ROOM),
    Rest("GET", "/api/agencies/{agency_id}/messages", private_room(), "private", ids=PRIVATE),
    Rest("POST", "/api/agencies/{agency_id}/messages", needs("member", 201), "public",
         ids={**ROOM, "name": new_name}, body=lambda t: {"content": t["name"]},
         effect=posted_only_if_allowed),
    Rest("POST", "/api/agencies/{agency_id}/messages", private_room(201), "private",
         ids={**PRIVATE, "name": new_name}, body=lambda t: {"content": t["name"]},
         effect=posted_only_if_allowed),
    Rest("POST", "/api/agencies/{agency_id}/messages", needs("member", 201), "slash command",
         ids={**ROOM, "name": new_name}, body=lambda t: {"content": f"/echo {t['name']}"},
         effect=posted_only_if_allowed),
    Rest("PATCH", "/api/messages/{message_id}", needs("admin"), "another's",
         ids={"message_id": authors_message, "name": new_name},
         body=lambda t: {"content": t["name"]}, effect=edited_only_if_allowed),
    Rest("PATCH", "/api/messages/{message_id}", expect(200, 200, 200, NA, NA), "own",
         ids={"message_id": own_message, "name": new_name},
         body=lambda t: {"content": t["name"]}, effect=edited_only_if_allowed),
    Rest("DELETE", "/api/messages/{message_id}", needs("admin"), "another's",
         ids={"message_id": authors_message}, effect=deleted_only_if_allowed),
    Rest("DELETE", "/api/messages/{message_id}", expect(200, 200, 200, NA, NA), "own",
         ids={"message_id": own_message}, effect=deleted_only_if_allowed),
    Rest("POST", "/api/agencies/{agency_id}/join", needs("guest"), "public",
         ids={"agency_id": new_room}, effect=caller_joined_only_if_allowed),
    Rest("POST", "/api/agencies/{agency_id}/join", private_room(), "private", ids=PRIVATE),
    Rest("POST", "/api/agencies/{agency_id}/leave", needs("guest"),
         ids={"agency_id": new_room_with_caller}, effect=caller_left_only_if_allowed),
    Rest("POST", "/api/agencies/{agency_id}/agents", needs("member"), "a bot of the house",
         ids={"agency_id": new_room, "agent": authors_bot},
         body=lambda t: {"agentId": t["agent"]}, effect=bot_added_only_if_allowed),

    Rest("GET", "/api/dm", anyone()),
    Rest("POST", "/api/dm/{user_id}", expect(200, 200, 200, 200, 403), "with a housemate",
         ids={"user_id": author_id}),

    Rest("GET", "/api/houses", anyone(), effect=lists_the_house_to_its_members),
    Rest("POST", "/api/houses", anyone(201), ids={"name": new_name},
         body=lambda t: {"name": t["name"]}),
    Rest("POST", "/api/houses/join", anyone(), "another house's invite",
         ids={"code": other_house_code}, body=lambda t: {"code": t["code"]},
         effect=joined_the_other_house),
    Rest("GET", "/api/houses/{house_id}", needs("guest"), ids=HOUSE),
    Rest("PATCH", "/api/houses/{house_id}", needs("owner"), ids={**HOUSE, "name": new_name},
         body=lambda t: {"name": t["name"]}, effect=house_renamed_only_if_allowed),
    Rest("GET", "/api/houses/{house_id}/members", needs("guest"), ids=HOUSE),
    Rest("GET", "/api/houses/{house_id}/agencies", needs("guest"), ids=HOUSE,
         effect=private_room_listed_only_to_its_member),
    Rest("PATCH", "/api/houses/{house_id}/members/{user_id}", needs("admin"),
         "member to guest", ids={**HOUSE, "user_id": new_member},
         body=lambda t: {"role": "guest"}, effect=role_becomes("guest", "member")),
    Rest("PATCH", "/api/houses/{house_id}/members/{user_id}", needs("owner"),
         "member to admin", ids={**HOUSE, "user_id": new_member},
         body=lambda t: {"role": "admin"}, effect=role_becomes("admin", "member")),
    Rest("PATCH", "/api/houses/{house_id}/members/{user_id}", needs("owner"),
         "admin to member", ids={**HOUSE, "user_id": new_admin},
         body=lambda t: {"role": "member"}, effect=role_becomes("member", "admin")),
    Rest("DELETE", "/api/houses/{house_id}/members/{user_id}", needs("admin"), "a member",
         ids={**HOUSE, "user_id": new_member}, effect=removed_only_if_allowed),
    Rest("DELETE", "/api/houses/{house_id}/members/{user_id}", needs("owner"), "an admin",
         ids={**HOUSE, "user_id": new_admin}, effect=removed_only_if_allowed),
    Rest("POST", "/api/houses/{house_id}/invites", needs("admin", 201), "to be a member",
         ids={**HOUSE, "uses": new_count},
         body=lambda t: {"role": "member", "max_uses": int(t["uses"])},
         effect=invite_created_only_if_allowed),
    Rest("POST", "/api/houses/{house_id}/invites", needs("owner", 201), "to be an admin",
         ids={**HOUSE, "uses": new_count},
         body=lambda t: {"role": "admin", "max_uses": int(t["uses"])},
         effect=invite_created_only_if_allowed),
    Rest("GET", "/api/houses/{house_id}/invites", needs("admin"), ids=HOUSE),
    Rest("DELETE", "/api/houses/{house_id}/invites/{invite_id}", needs("admin"),
         ids={**HOUSE, "invite_id": new_invite}, effect=invite_revoked_only_if_allowed),
    *feature_rows("REST_ROWS"),
]

SOCKET_ROWS = [
    Emit("join-agency", needs("guest"), "public", ids={"agency_id": new_room},
         payload=lambda t: {"agencyId": t["agency_id"]}, effect=hears_the_room_only_if_allowed),
    Emit("join-agency", private_room(), "private", ids=PRIVATE,
         payload=lambda t: {"agencyId": t["agency_id"]}, effect=hears_the_room_only_if_allowed),
    Emit("leave-agency", anyone(), ids={"agency_id": new_room_joined_by_caller},
         payload=lambda t: {"agencyId": t["agency_id"]},
         effect=presence_only_from_those_who_joined),
    Emit("send-message", needs("member"), "public", ids={**ROOM, "name": new_name},
         payload=lambda t: {"agencyId": t["agency_id"], "content": t["name"]},
         effect=posted_only_if_allowed),
    Emit("send-message", private_room(), "private", ids={**PRIVATE, "name": new_name},
         payload=lambda t: {"agencyId": t["agency_id"], "content": t["name"]},
         effect=posted_only_if_allowed),
    Emit("send-message", needs("member"), "/echo", ids={**ROOM, "name": new_name},
         payload=lambda t: {"agencyId": t["agency_id"], "content": f"/echo {t['name']}",
                            "silent": False},
         effect=posted_only_if_allowed),
    Emit("send-message", needs("guest"), "/who", ids=ROOM,
         payload=lambda t: {"agencyId": t["agency_id"], "content": "/who"}),
    Emit("send-message", needs("member"), "/invite",
         ids={"agency_id": new_room, "handle": new_member_handle},
         payload=lambda t: {"agencyId": t["agency_id"], "content": f"/invite @{t['handle']}"},
         effect=invited_only_if_allowed),
    Emit("edit-message", needs("admin"), "another's",
         ids={"message_id": authors_message, "name": new_name},
         payload=lambda t: {"messageId": t["message_id"], "content": t["name"]},
         effect=edited_only_if_allowed),
    Emit("delete-message", needs("admin"), "another's", ids={"message_id": authors_message},
         payload=lambda t: {"messageId": t["message_id"]}, effect=deleted_only_if_allowed),
    Emit("agent-thinking", needs("member"), ids={**ROOM, "name": new_name},
         payload=lambda t: {"agencyId": t["agency_id"], "thinking": True, "status": t["name"]},
         effect=thinking_heard_only_if_allowed),
    *feature_rows("SOCKET_ROWS"),
]


def cells(rows: list[Any]) -> list[Any]:
    """One test per row and principal, but for cells that cannot be set up."""
    return [pytest.param(row, p, id=f"{row}-{p}")
            for row in rows for p in PRINCIPALS if row.expect[p] is not NA]


@pytest.fixture(scope="module")
async def world(shoal_server: ShoalServer) -> AsyncIterator[World]:
    """The house, its principals with a socket each, and the owner's revoked PAT."""
    server = shoal_server
    house = await make_house(server)
    author = await server.register()
    r = await house.owner.post(f"/api/houses/{house.id}/invites", {"role": "member"})
    assert (await author.post("/api/houses/join", {"code": r.json()["code"]})).status_code == 200
    # The author shares only this house with the principals, so an outsider cannot DM them.
    r = await author.delete(f"/api/houses/{server.home_id}/members/{author.id}")
    assert r.status_code == 200, r.text
    r = await author.post("/api/houses", {"name": unique("other")})
    other_house_id = r.json()["id"]
    r = await house.member.post("/api/agencies", {"name": unique("private"),
                                                  "houseId": house.id, "isPrivate": True})
    assert r.status_code == 201, r.text
    private_id = r.json()["id"]
    assert (await author.post(f"/api/agencies/{house.room_id}/join")).status_code == 200

    r = await house.owner.post("/api/auth/tokens", {"name": "soon revoked"})
    revoked_token, token_id = r.json()["token"], r.json()["id"]
    r = await house.owner.delete(f"/api/auth/tokens/{token_id}")
    assert r.status_code == 200 and r.json()["revoked_at"] is not None

    watcher = await author.socket()
    await watcher.join(house.room_id)
    w = World(server, house, author, other_house_id, private_id, revoked_token, watcher,
              server.http())
    for role in ("member", "admin"):
        r = await house.owner.post(f"/api/houses/{house.id}/invites", {"role": role})
        w.invite_codes[role] = r.json()["code"]
    nonmember = await server.register()
    for name, person in (("owner", house.owner), ("admin", house.admin),
                         ("member", house.member), ("guest", house.guest),
                         ("nonmember", nonmember)):
        w.callers[name] = Caller(name, person, person.http, await person.socket())
    w.callers["revoked"] = Caller("revoked", house.owner, server.http(revoked_token), None)
    yield w
    for caller in w.callers.values():
        if caller.socket is not None:
            await caller.socket.close()
    await watcher.close()


async def test_every_route_and_event_has_a_row(shoal_server: ShoalServer) -> None:
    """A route or socket event added without a matrix row fails here."""
    r = await shoal_server.http().get("/openapi.json")
    served = {(method.upper(), path) for path, operations in r.json()["paths"].items()
              for method in operations if method in ("get", "post", "put", "patch", "delete")}
    listed = {(row.method, row.route) for row in REST_ROWS} | set(UNCOVERED_ROUTES)
    assert served - listed == set(), "routes without a row"
    assert listed - served == set(), "rows for routes the app does not serve"
    events = set(shoal_server.shoal.gateway.sio.handlers["/"]) - {"connect", "disconnect"}
    assert events == {row.event for row in SOCKET_ROWS}


async def test_revoking_a_token_closes_the_sockets_opened_with_it(world: World) -> None:
    owner = world.house.owner
    r = await owner.post("/api/auth/tokens", {"name": "open socket"})
    token, token_id = r.json()["token"], r.json()["id"]
    doomed, other = await world.server.socket(token), await owner.socket()
    await doomed.join(world.house.room_id)
    closed = asyncio.Event()
    doomed.client.on("disconnect", lambda *_: closed.set())
    assert (await owner.delete(f"/api/auth/tokens/{token_id}")).status_code == 200
    async with asyncio.timeout(5):
        await closed.wait()
    assert not doomed.client.connected
    assert (await other.call("join-agency", {"agencyId": world.house.room_id}))["ok"]
    with pytest.raises(socketio.exceptions.ConnectionError, match="token has been revoked"):
        await world.server.socket(token)
    await other.close()


@pytest.mark.parametrize(("row", "principal"), cells(REST_ROWS))
async def test_rest(world: World, row: Rest, principal: str) -> None:
    caller = world.callers[principal]
    expected = row.expect[principal]
    ids = {name: await make(world, caller) for name, make in row.ids.items()}
    r = await caller.http.request(row.method, row.route.format_map(ids),
                                  json=row.body(ids) if row.body else None,
                                  params=row.params(ids) if row.params else None,
                                  headers=bearer(ids[row.token]) if row.token else None)
    assert r.status_code == expected, f"{principal}: {r.status_code} {r.text}"
    if expected is not None and expected >= 400:
        assert set(r.json()) == {"error"}, r.text
    if row.effect is not None:
        await row.effect(Cell(world, caller, ids, r.status_code < 400, r.json(), 0))


@pytest.mark.parametrize(("row", "principal"), cells(SOCKET_ROWS))
async def test_socket(world: World, row: Emit, principal: str) -> None:
    caller = world.callers[principal]
    expected = row.expect[principal]
    if caller.socket is None:
        assert expected == 401
        with pytest.raises(socketio.exceptions.ConnectionError, match="token has been revoked"):
            await world.server.socket(world.revoked_token)
        return
    ids = {name: await make(world, caller) for name, make in row.ids.items()}
    since = len(world.watcher.events)
    ack = await caller.socket.call(row.event, row.payload(ids))
    if expected == 200:
        assert ack["ok"] is True, f"{principal}: {ack}"
    elif expected == 403:
        assert ack["ok"] is False and "may not" in ack["error"], f"{principal}: {ack}"
    else:
        assert expected == 404
        assert ack["ok"] is False and ack["error"].endswith("not found"), f"{principal}: {ack}"
    if row.effect is not None:
        await row.effect(Cell(world, caller, ids, expected == 200, ack, since))
