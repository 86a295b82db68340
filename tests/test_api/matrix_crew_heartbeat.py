"""The permission matrix's rows for a crew's lead heartbeat: anyone who can read the crew's
room sees it; anyone who can post there halts or resumes it."""

from __future__ import annotations

from shoal.crew.tables import Crew
from tests.support import unique
from tests.test_api.matrix import Caller, Cell, Rest, World, needs
from tests.test_crew.support import make_crew


async def crew_in_public_room(w: World, c: Caller) -> str:
    """A fresh crew (a lead alone) in the house's public room."""
    crew = await make_crew(w.server.shoal.db, [(unique("boss"), "lead")], house_id=w.house.id,
                           room_id=w.house.room_id)
    return crew.crew_id


async def halted_only_if_allowed(cell: Cell) -> None:
    async with cell.world.server.shoal.db.read() as session:
        crew = await session.get(Crew, cell.ids["crew_id"])
    assert crew is not None and crew.heartbeat_halted == cell.allowed


CREW = {"crew_id": crew_in_public_room}

REST_ROWS = [
    Rest("GET", "/api/crews/{crew_id}/heartbeat", needs("guest"), ids=CREW),
    Rest("PATCH", "/api/crews/{crew_id}/heartbeat", needs("member"), ids=CREW,
         body=lambda ids: {"halted": True}, effect=halted_only_if_allowed),
]
SOCKET_ROWS: list[object] = []
