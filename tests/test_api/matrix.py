"""The permission matrix's parts: principals, the shared world, targets and effect checks.

A target makes (or names) what a row is called against; an effect check looks, after the call,
at whether the state changed exactly when the principal was allowed to change it.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support import House, Person, ShoalServer, Socket, unique

PRINCIPALS = ("owner", "admin", "member", "guest", "nonmember", "revoked")
ROLES = ("guest", "member", "admin", "owner")
NA = None  # the cell cannot be set up: a guest or an outsider has no message of their own here

Expect = dict[str, int | None]


def expect(owner: int, admin: int, member: int, guest: int, nonmember: int,
           revoked: int | None = 401) -> Expect:
    """An outcome per principal, in the order of PRINCIPALS."""
    return dict(zip(PRINCIPALS, (owner, admin, member, guest, nonmember, revoked), strict=True))


def needs(role: str, ok: int = 200) -> Expect:
    """`ok` for house members of `role` or above, 403 below it, 404 for outsiders."""
    rank = ROLES.index(role)
    return expect(*(ok if ROLES.index(r) >= rank else 403 for r in reversed(ROLES)), 404)


def anyone(ok: int = 200) -> Expect:
    """An endpoint about the caller alone: every live token gets `ok`."""
    return expect(ok, ok, ok, ok, ok)


def private_room(ok: int = 200) -> Expect:
    """The private room's own member gets `ok`; even the owner does not know it exists."""
    return expect(404, 404, ok, 404, 404)


PUBLIC = expect(200, 200, 200, 200, 200, revoked=200)  # no token asked for, so none refused


@dataclass
class Caller:
    """One principal: the account whose standing is tested and the client calling as it."""

    name: str
    account: Person  # for the revoked token, the owner who revoked it
    http: httpx.AsyncClient
    socket: Socket | None


@dataclass
class World:
    """One house with people of every role, shared by the rows of one backend."""

    server: ShoalServer
    house: House
    author: Person  # a member whose messages and bots the principals try to moderate
    other_house_id: str  # a house the author owns, for joining by invite
    private_id: str  # a private room only `member` is in
    revoked_token: str
    watcher: Socket  # the author's socket, joined to the house's public room
    anon: httpx.AsyncClient  # one client for calls made with some other token, or none
    invite_codes: dict[str, str] = field(default_factory=dict)  # role -> a reusable code
    callers: dict[str, Caller] = field(default_factory=dict)
    bot_tokens: dict[str, str] = field(default_factory=dict)
    user_ids: dict[str, str] = field(default_factory=dict)  # username -> id

    async def history(self, room_id: str) -> list[dict[str, Any]]:
        """The room's latest messages as `member` (who can read every room here) sees them."""
        r = await self.house.member.get(f"/api/agencies/{room_id}/messages")
        assert r.status_code == 200, r.text
        return r.json()  # type: ignore[no-any-return]

    async def message(self, room_id: str, message_id: str) -> dict[str, Any]:
        return next(m for m in await self.history(room_id) if m["id"] == message_id)

    async def room_members(self, room_id: str) -> set[str]:
        r = await self.author.get(f"/api/agencies/{room_id}/members")
        assert r.status_code == 200, r.text
        return {m["id"] for m in r.json()}

    async def house_roles(self) -> dict[str, str]:
        r = await self.house.owner.get(f"/api/houses/{self.house.id}/members")
        return {m["id"]: m["role"] for m in r.json()}


def bearer(token: str) -> dict[str, str]:
    """Headers that make one request with another token than the client's."""
    return {"Authorization": f"Bearer {token}"}


Target = Callable[[World, Caller], Awaitable[str]]
Ids = dict[str, str]


@dataclass
class Cell:
    """One call of one row by one principal, handed to the row's effect check."""

    world: World
    caller: Caller
    ids: Ids
    allowed: bool
    answer: Any  # the JSON answer, or the socket ack
    since: int  # how many events the watcher had received just before the call


Effect = Callable[[Cell], Awaitable[None]]


@dataclass(frozen=True)
class Rest:
    """A REST call: its route, what fills the route and body, and who may make it."""

    method: str
    route: str
    expect: Expect
    case: str = ""
    ids: dict[str, Target] = field(default_factory=dict)
    body: Callable[[Ids], Any] | None = None
    token: str | None = None  # an id naming the token to call with, instead of the caller's
    effect: Effect | None = None
    params: Callable[[Ids], dict[str, str]] | None = None  # the query string

    def __str__(self) -> str:
        return f"{self.method} {self.route}" + (f" ({self.case})" if self.case else "")


@dataclass(frozen=True)
class Emit:
    """A socket event: its payload, and whose ack is ok."""

    event: str
    expect: Expect
    case: str = ""
    ids: dict[str, Target] = field(default_factory=dict)
    payload: Callable[[Ids], dict[str, Any]] = lambda ids: {}
    effect: Effect | None = None

    def __str__(self) -> str:
        return self.event + (f" ({self.case})" if self.case else "")


# Targets: what a row's route and body are filled with.

async def house_id(w: World, c: Caller) -> str:
    return w.house.id


async def public_room(w: World, c: Caller) -> str:
    return w.house.room_id


async def private_room_id(w: World, c: Caller) -> str:
    return w.private_id


async def author_id(w: World, c: Caller) -> str:
    return w.author.id


async def new_name(w: World, c: Caller) -> str:
    return unique("n")


async def new_count(w: World, c: Caller) -> str:
    """A number no other call uses, to find what a call made."""
    return str(random.randrange(10**6, 10**9))


async def caller_username(w: World, c: Caller) -> str:
    return str(c.account.user["username"])


async def new_room(w: World, c: Caller) -> str:
    """A public room the author made; none of the principals is in it."""
    r = await w.author.post("/api/agencies", {"name": unique("room"), "houseId": w.house.id})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def new_room_with_caller(w: World, c: Caller) -> str:
    """A public room the caller joined, if they could."""
    room_id = await new_room(w, c)
    await c.account.post(f"/api/agencies/{room_id}/join")
    return room_id


async def new_room_joined_by_caller(w: World, c: Caller) -> str:
    """A public room the watcher listens to and the caller's socket joined, if it could."""
    room_id = await new_room(w, c)
    await w.watcher.join(room_id)
    assert c.socket is not None
    await c.socket.call("join-agency", {"agencyId": room_id})
    return room_id


async def authors_message(w: World, c: Caller) -> str:
    r = await w.author.post(f"/api/agencies/{w.house.room_id}/messages",
                            {"content": unique("by the author ")})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def own_message(w: World, c: Caller) -> str:
    r = await c.account.post(f"/api/agencies/{w.house.room_id}/messages",
                             {"content": unique("my own ")})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def _new_house_member(w: World, role: str) -> dict[str, Any]:
    """A newly registered user who joined the house with `role`; in no room of it yet."""
    r = await w.anon.post("/api/auth/register", json={"username": unique(),
                                                      "password": "correct horse"})
    assert r.status_code == 201, r.text
    token, user = r.json()["token"], r.json()["user"]
    r = await w.anon.post("/api/houses/join", json={"code": w.invite_codes[role]},
                          headers=bearer(token))
    assert r.status_code == 200 and r.json()["role"] == role, r.text
    return user  # type: ignore[no-any-return]


async def new_member(w: World, c: Caller) -> str:
    return str((await _new_house_member(w, "member"))["id"])


async def new_admin(w: World, c: Caller) -> str:
    return str((await _new_house_member(w, "admin"))["id"])


async def new_member_handle(w: World, c: Caller) -> str:
    """The @handle (here, the username) of a new house member."""
    user = await _new_house_member(w, "member")
    w.user_ids[user["username"]] = user["id"]
    return str(user["username"])


async def new_invite(w: World, c: Caller) -> str:
    r = await w.house.owner.post(f"/api/houses/{w.house.id}/invites", {"role": "guest"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def other_house_code(w: World, c: Caller) -> str:
    r = await w.author.post(f"/api/houses/{w.other_house_id}/invites", {"role": "guest"})
    assert r.status_code == 201, r.text
    return str(r.json()["code"])


async def authors_bot(w: World, c: Caller) -> str:
    """An unverified bot the author owns, a member of the house and of no room."""
    r = await w.author.post("/api/agents", {"name": unique("bot"), "houseId": w.house.id})
    assert r.status_code == 201, r.text
    bot_id = str(r.json()["agent"]["id"])
    w.bot_tokens[bot_id] = r.json()["agentToken"]
    return bot_id


async def verified_bot_token(w: World, c: Caller) -> str:
    bot_id = await authors_bot(w, c)
    assert (await w.author.post(f"/api/agents/{bot_id}/verify")).status_code == 200
    return w.bot_tokens[bot_id]


async def own_pat(w: World, c: Caller) -> str:
    r = await c.account.post("/api/auth/tokens", {"name": "matrix"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def authors_pat(w: World, c: Caller) -> str:
    r = await w.author.post("/api/auth/tokens", {"name": "not yours"})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def own_session(w: World, c: Caller) -> str:
    """A fresh session token of the caller; the revoked caller has only its revoked token."""
    if c.name == "revoked":
        return w.revoked_token
    r = await w.anon.post("/api/auth/login", json={
        "username": c.account.user["username"], "password": "correct horse"})
    assert r.status_code == 200, r.text
    return str(r.json()["token"])


# Effects: what must (and must not) have changed.

async def shows_the_caller(cell: Cell) -> None:
    if cell.allowed:
        assert cell.answer["id"] == cell.caller.account.id


async def session_is_revoked(cell: Cell) -> None:
    r = await cell.world.anon.get("/api/auth/me", headers=bearer(cell.ids["session"]))
    assert r.status_code == 401


async def pat_revoked_only_if_allowed(cell: Cell) -> None:
    r = await cell.caller.account.get("/api/auth/tokens")
    token = next(t for t in r.json() if t["id"] == cell.ids["token_id"])
    assert (token["revoked_at"] is not None) == cell.allowed


async def authors_pat_still_live(cell: Cell) -> None:
    r = await cell.world.author.get("/api/auth/tokens")
    assert next(t for t in r.json() if t["id"] == cell.ids["token_id"])["revoked_at"] is None


async def bot_created_only_if_allowed(cell: Cell) -> None:
    r = await cell.caller.account.get("/api/agents")
    names = {b["display_name"] for b in r.json()}
    assert (cell.ids["name"] in names) == cell.allowed


async def bot_verified_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.author.get("/api/agents")
    bot = next(b for b in r.json() if b["id"] == cell.ids["agent_id"])
    assert bot["status"] == ("active" if cell.allowed else "unverified")
    me = await cell.world.anon.get("/api/auth/me",
                                   headers=bearer(cell.world.bot_tokens[cell.ids["agent_id"]]))
    assert me.status_code == (200 if cell.allowed else 403), me.text


async def bot_config_changed_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.author.get(f"/api/agents/{cell.ids['agent_id']}/config")
    assert (r.json()["config"]["role"] == cell.ids["name"]) == cell.allowed


async def old_bot_token_revoked_only_if_allowed(cell: Cell) -> None:
    old = cell.world.bot_tokens[cell.ids["agent_id"]]
    r = await cell.world.anon.post("/api/auth/agent", json={"agentToken": old})
    # A live token of an unverified bot is refused with 403; a revoked one with 401.
    assert r.status_code == (401 if cell.allowed else 403), r.text


async def bot_deleted_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.author.get("/api/agents")
    assert (cell.ids["agent_id"] not in {b["id"] for b in r.json()}) == cell.allowed


async def lists_rooms_the_caller_may_see(cell: Cell) -> None:
    if cell.allowed:
        ids = {room["id"] for room in cell.answer}
        assert (cell.world.house.room_id in ids) == (cell.caller.name != "nonmember")
        assert (cell.world.private_id in ids) == (cell.caller.name == "member")


async def room_created_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.owner.get(f"/api/houses/{cell.world.house.id}/agencies")
    assert (cell.ids["name"] in {room["name"] for room in r.json()}) == cell.allowed


async def room_renamed_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.author.get(f"/api/agencies/{cell.ids['agency_id']}")
    assert (r.json()["name"] == cell.ids["name"]) == cell.allowed


async def posted_only_if_allowed(cell: Cell) -> None:
    room_id = cell.ids.get("agency_id", cell.world.house.room_id)
    contents = {m["content"] for m in await cell.world.history(room_id)}
    assert (cell.ids["name"] in contents) == cell.allowed


async def edited_only_if_allowed(cell: Cell) -> None:
    message = await cell.world.message(cell.world.house.room_id, cell.ids["message_id"])
    assert (message["content"] == cell.ids["name"]) == cell.allowed
    assert (message["edited_at"] is not None) == cell.allowed


async def deleted_only_if_allowed(cell: Cell) -> None:
    message = await cell.world.message(cell.world.house.room_id, cell.ids["message_id"])
    assert message["deleted"] == cell.allowed
    assert (message["content"] == "") == cell.allowed


async def caller_joined_only_if_allowed(cell: Cell) -> None:
    members = await cell.world.room_members(cell.ids["agency_id"])
    assert (cell.caller.account.id in members) == cell.allowed


async def caller_left_only_if_allowed(cell: Cell) -> None:
    members = await cell.world.room_members(cell.ids["agency_id"])
    in_house = cell.caller.name != "nonmember"
    assert (cell.caller.account.id in members) == (in_house and not cell.allowed)


async def bot_added_only_if_allowed(cell: Cell) -> None:
    members = await cell.world.room_members(cell.ids["agency_id"])
    assert (cell.ids["agent"] in members) == cell.allowed


async def lists_the_house_to_its_members(cell: Cell) -> None:
    if cell.allowed:
        ids = {h["id"] for h in cell.answer}
        assert (cell.world.house.id in ids) == (cell.caller.name != "nonmember")


async def joined_the_other_house(cell: Cell) -> None:
    if cell.allowed:
        assert cell.answer["id"] == cell.world.other_house_id


async def house_renamed_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.guest.get(f"/api/houses/{cell.world.house.id}")
    assert (r.json()["name"] == cell.ids["name"]) == cell.allowed


async def private_room_listed_only_to_its_member(cell: Cell) -> None:
    if cell.allowed:
        ids = {room["id"] for room in cell.answer}
        assert (cell.world.private_id in ids) == (cell.caller.name == "member")
        assert cell.world.house.room_id in ids


def role_becomes(new: str, old: str) -> Effect:
    async def check(cell: Cell) -> None:
        role = (await cell.world.house_roles())[cell.ids["user_id"]]
        assert role == (new if cell.allowed else old)
    return check


async def removed_only_if_allowed(cell: Cell) -> None:
    assert (cell.ids["user_id"] not in await cell.world.house_roles()) == cell.allowed


async def invite_created_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.owner.get(f"/api/houses/{cell.world.house.id}/invites")
    made = [i for i in r.json() if i["max_uses"] == int(cell.ids["uses"])]
    assert len(made) == (1 if cell.allowed else 0)


async def invite_revoked_only_if_allowed(cell: Cell) -> None:
    r = await cell.world.house.owner.get(f"/api/houses/{cell.world.house.id}/invites")
    invite = next(i for i in r.json() if i["id"] == cell.ids["invite_id"])
    assert (invite["revoked_at"] is not None) == cell.allowed


# Socket effects. An ack is sent after everything the server emitted to that socket before it,
# so a refused request's ack on `barrier` proves an event did not arrive.

async def barrier(sock: Socket) -> None:
    ack = await sock.call("leave-agency", {})
    assert ack == {"ok": False, "error": "agencyId is required"}


def events_after(sock: Socket, start: int, event: str) -> list[Any]:
    return [data for name, data in sock.events[start:] if name == event]


async def hears_the_room_only_if_allowed(cell: Cell) -> None:
    sock = cell.caller.socket
    assert sock is not None
    start = len(sock.events)
    poster = cell.world.house.member if cell.ids["agency_id"] == cell.world.private_id \
        else cell.world.author
    r = await poster.post(f"/api/agencies/{cell.ids['agency_id']}/messages",
                          {"content": unique("after joining ")})
    assert r.status_code == 201, r.text
    await barrier(sock)
    heard = [m["id"] for m in events_after(sock, start, "message")]
    assert (r.json()["id"] in heard) == cell.allowed


async def presence_only_from_those_who_joined(cell: Cell) -> None:
    await barrier(cell.world.watcher)
    offline = [p for p in events_after(cell.world.watcher, cell.since, "member-presence")
               if p["userId"] == cell.caller.account.id and not p["online"]]
    assert bool(offline) == (cell.caller.name != "nonmember")


async def thinking_heard_only_if_allowed(cell: Cell) -> None:
    watcher = cell.world.watcher
    await barrier(watcher)
    heard = [e for e in events_after(watcher, cell.since, "agent-thinking")
             if e["userId"] == cell.caller.account.id and e["status"] == cell.ids["name"]]
    assert bool(heard) == cell.allowed


async def invited_only_if_allowed(cell: Cell) -> None:
    invited = cell.world.user_ids[cell.ids["handle"]]
    assert (invited in await cell.world.room_members(cell.ids["agency_id"])) == cell.allowed
