"""The permission matrix's row for the commands a room offers its composer."""

from __future__ import annotations

from tests.test_api.matrix import Cell, Rest, needs, public_room


async def lists_what_the_caller_may_run(cell: Cell) -> None:
    if not cell.allowed:
        return
    names = {c["name"] for c in cell.answer}
    assert "help" in names
    assert ("save" in names) == (cell.caller.name != "guest")


REST_ROWS = [
    Rest("GET", "/api/agencies/{agency_id}/commands", needs("guest"),
         ids={"agency_id": public_room}, effect=lists_what_the_caller_may_run),
]
SOCKET_ROWS: list = []
