"""The permission matrix's rows for sub-agents: the author's runner bot spawned a child in
the public room; the author asked for it, so among members only they may kill it."""

from __future__ import annotations

from shoal.subagents.tables import Subagent
from tests.test_api.matrix import Cell, Rest, World, expect, needs
from tests.test_api.matrix_runs import _agent


async def live_child(w: World, c: object) -> str:
    """A pending child of the author's runner bot, asked for by the author."""
    bot = await _agent(w)
    async with w.server.shoal.db.write() as session:
        child = Subagent(house_id=w.house.id, room_id=w.house.room_id, parent_bot_id=bot.id,
                         child_bot_id=bot.id, requested_by=w.author.id, task="look into it",
                         label="", cleanup="keep", announce="none", state="pending",
                         input_tokens=0, output_tokens=0)
        session.add(child)
        await session.flush()
        return child.id


async def killed_only_if_allowed(cell: Cell) -> None:
    async with cell.world.server.shoal.db.read() as session:
        child = await session.get(Subagent, cell.ids["sub_id"])
    assert child is not None and (child.state == "killed") == cell.allowed


CHILD = {"sub_id": live_child}

REST_ROWS = [
    # Without its roomId the list is a request to correct, for anyone signed in.
    Rest("GET", "/api/subagents", expect(400, 400, 400, 400, 400)),
    Rest("GET", "/api/subagents/{sub_id}", needs("guest"), ids=CHILD),
    Rest("POST", "/api/subagents/{sub_id}/kill", expect(200, 200, 403, 403, 404), ids=CHILD,
         effect=killed_only_if_allowed),
    # Only agents spawn; people are told so whatever their role.
    Rest("POST", "/api/subagents", expect(403, 403, 403, 403, 403),
         body=lambda t: {"roomId": "x", "task": "look into it"}),
]
SOCKET_ROWS: list[object] = []
