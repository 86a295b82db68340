"""Hooks in a fresh house: made by its owner through the API, used as another system would."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support import House, ShoalServer, unique
from tests.test_dispatch.conftest import scripted  # noqa: F401  (bots answer without a model)


async def make_hook(house: House, rooms: list[str] | None = None, **fields: Any
                    ) -> dict[str, Any]:
    """A hook the house's owner made, with its key (and generated secret) as shown once."""
    body = {"name": unique("Hook "), "rooms": rooms or [house.room_id], **fields}
    r = await house.owner.post(f"/api/houses/{house.id}/hooks", body)
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def keyed(server: ShoalServer, key: str) -> httpx.AsyncClient:
    """A client that sends a hook key the way the contract says: no bearer token at all."""
    client = server.http()
    client.headers["X-Crustocean-Hook-Key"] = key
    return client


async def history(house: House, room_id: str | None = None) -> list[dict[str, Any]]:
    """The room's messages, oldest first, as its member sees them."""
    r = await house.member.get(f"/api/agencies/{room_id or house.room_id}/messages",
                               params={"after_seq": 0, "limit": 100})
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]
