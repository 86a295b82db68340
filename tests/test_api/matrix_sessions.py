"""The permission matrix's rows for agents' sessions: readable by whoever may read the
session's room; a private room's session only by that room's members."""

from __future__ import annotations

from shoal.llm import ChatMessage
from shoal.runtime.sessions import append_turns, open_session, session_key
from tests.support import unique
from tests.test_api.matrix import Caller, Rest, World, needs, private_room

PRIVATE_ONLY = private_room()


async def _sessions_bot(w: World) -> str:
    """The house's bot with one session in the public room and one in the private room;
    made once per world."""
    if "sessions" not in w.user_ids:
        r = await w.author.post("/api/agents", {"name": unique("memo"), "houseId": w.house.id})
        assert r.status_code == 201, r.text
        bot_id = str(r.json()["agent"]["id"])
        for room_id in (w.house.room_id, w.private_id):
            made = await open_session(w.server.shoal.db, bot_id, w.house.id, room_id,
                                      session_key("room", room_id))
            await append_turns(w.server.shoal.db, made.id, [ChatMessage("user", "@x: hi")])
        w.user_ids["sessions"] = bot_id
    return w.user_ids["sessions"]


async def sessions_bot(w: World, c: Caller) -> str:
    return await _sessions_bot(w)


async def public_key(w: World, c: Caller) -> str:
    return session_key("room", w.house.room_id)


async def private_key(w: World, c: Caller) -> str:
    return session_key("room", w.private_id)


PUBLIC_SESSION = {"agent_id": sessions_bot, "key": public_key}
PRIVATE_SESSION = {"agent_id": sessions_bot, "key": private_key}

REST_ROWS = [
    Rest("GET", "/api/agents/{agent_id}/sessions", needs("guest"), "a bot of the house",
         ids={"agent_id": sessions_bot}),
    Rest("GET", "/api/agents/{agent_id}/sessions/{key}", needs("guest"), "public room",
         ids=PUBLIC_SESSION),
    Rest("GET", "/api/agents/{agent_id}/sessions/{key}", PRIVATE_ONLY, "private room",
         ids=PRIVATE_SESSION),
    Rest("GET", "/api/agents/{agent_id}/sessions/{key}/export", needs("guest"), "public room",
         ids=PUBLIC_SESSION),
    Rest("GET", "/api/agents/{agent_id}/sessions/{key}/export", PRIVATE_ONLY, "private room",
         ids=PRIVATE_SESSION),
]
