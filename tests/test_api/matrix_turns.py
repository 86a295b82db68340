"""The permission matrix's rows for reactions and attachments: whoever reads a room reacts
and reads its files; only those who may post upload."""

from __future__ import annotations

from tests.support import unique
from tests.test_api.matrix import (
    Caller,
    Cell,
    Emit,
    Rest,
    World,
    authors_message,
    expect,
    needs,
    private_room,
    public_room,
)

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32


async def private_message(w: World, c: Caller) -> str:
    """A message in the private room, which only `member` is in."""
    r = await w.house.member.post(f"/api/agencies/{w.private_id}/messages",
                                  {"content": unique("private ")})
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def authors_file(w: World, c: Caller) -> str:
    """A file the author posted in the house's public room."""
    r = await w.author.http.post(f"/api/agencies/{w.house.room_id}/attachments",
                                 files={"file": ("dot.png", PNG, "image/png")})
    assert r.status_code == 201, r.text
    file_id = str(r.json()["id"])
    r = await w.author.post(f"/api/agencies/{w.house.room_id}/messages",
                            {"content": "a file", "attachments": [file_id]})
    assert r.status_code == 201, r.text
    return file_id


async def reacted_by_caller(w: World, c: Caller) -> str:
    """The author's message, with the caller's 👍 on it if they could react."""
    message_id = await authors_message(w, c)
    await c.account.post(f"/api/messages/{message_id}/reactions", {"emoji": "👍"})
    return message_id


async def caller_reacted_only_if_allowed(cell: Cell) -> None:
    message = await cell.world.message(cell.world.house.room_id, cell.ids["message_id"])
    users = {u["id"] for r in message["reactions"] for u in r["users"]}
    assert (cell.caller.account.id in users) == cell.allowed


async def caller_unreacted_only_if_allowed(cell: Cell) -> None:
    message = await cell.world.message(cell.world.house.room_id, cell.ids["message_id"])
    users = {u["id"] for r in message["reactions"] for u in r["users"]}
    if cell.allowed:
        assert cell.caller.account.id not in users


async def thumbs_up(w: World, c: Caller) -> str:
    return "👍"


REST_ROWS = [
    Rest("POST", "/api/messages/{message_id}/reactions", needs("guest"), "public",
         ids={"message_id": authors_message}, body=lambda t: {"emoji": "👍"},
         effect=caller_reacted_only_if_allowed),
    Rest("POST", "/api/messages/{message_id}/reactions", private_room(), "private",
         ids={"message_id": private_message}, body=lambda t: {"emoji": "👍"}),
    Rest("DELETE", "/api/messages/{message_id}/reactions/{emoji}", needs("guest"),
         ids={"message_id": reacted_by_caller, "emoji": thumbs_up},
         effect=caller_unreacted_only_if_allowed),
    # Allowed callers send no file here, so they are told to (400); the rest are refused first.
    Rest("POST", "/api/agencies/{agency_id}/attachments", needs("member", 400),
         ids={"agency_id": public_room}),
    Rest("GET", "/api/attachments/{attachment_id}", needs("guest"),
         ids={"attachment_id": authors_file}),
    Rest("POST", "/api/attachments/{attachment_id}/link", needs("guest"),
         ids={"attachment_id": authors_file}),
]

SOCKET_ROWS = [
    Emit("add-reaction", needs("guest"), ids={"message_id": authors_message},
         payload=lambda t: {"messageId": t["message_id"], "emoji": "🎉"}),
    Emit("remove-reaction", needs("guest"), ids={"message_id": authors_message},
         payload=lambda t: {"messageId": t["message_id"], "emoji": "🎉"}),
]


async def authors_bot_id(w: World, c: Caller) -> str:
    """A bot the author made in the house's room."""
    r = await w.author.post("/api/agents", {"name": unique("Face "),
                                            "agencyId": w.house.room_id})
    assert r.status_code == 201, r.text
    return str(r.json()["agent"]["id"])


FACE_ROWS = [
    # Without a file the caller is told to send one (400); the bot's is for who manages it.
    Rest("PUT", "/api/me/avatar", expect(400, 400, 400, 400, 400)),
    Rest("DELETE", "/api/me/avatar", expect(200, 200, 200, 200, 200)),
    Rest("PUT", "/api/agents/{agent_id}/avatar", expect(400, 400, 403, 403, 404),
         ids={"agent_id": authors_bot_id}),
    Rest("DELETE", "/api/agents/{agent_id}/avatar", expect(200, 200, 403, 403, 404),
         ids={"agent_id": authors_bot_id}),
    # Those who share a house with the bot see its avatar; the outsider does not.
    Rest("GET", "/api/users/{user_id}/avatar", expect(200, 200, 200, 200, 404),
         ids={"user_id": authors_bot_id}),
]
REST_ROWS += FACE_ROWS
