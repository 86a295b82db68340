"""A Shoal that may call loopback receivers, whose scheduler runs only when a test says so,
on a clock the tests move; and helpers to subscribe and to read what receivers got."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.receiver import Received
from tests.support import (
    Clock,
    House,
    Person,
    ShoalServer,
    database_beside,
    make_settings,
    serve,
)

# Far ahead of the real clock: a scheduler of another server sharing the PostgreSQL database
# (running on the real clock) never finds these tests' deliveries due.
EPOCH = datetime(2036, 1, 1, 12, 0, tzinfo=UTC)


@dataclass
class Hooked:
    """The server, its clock, and a way to run what is due at the clock's time."""

    server: ShoalServer
    clock: Clock

    async def run_due(self) -> int:
        """Claim and send every delivery due now; sending is done when this returns."""
        return await self.server.shoal.scheduler.run_due()


@pytest.fixture(scope="session")
async def hooked(shoal_server: ShoalServer, tmp_path_factory: pytest.TempPathFactory
                 ) -> AsyncIterator[Hooked]:
    """A server on the same backend as `shoal_server` that allows private addresses, so it
    may call the loopback receiver. Its role is api: its scheduler never runs on its own, only
    through `run_due()`. On PostgreSQL it has a database of its own, where the shared
    server's scheduler cannot claim its deliveries (and fail them: it refuses loopback)."""
    backend = "sqlite" if shoal_server.shoal.db.is_sqlite else "postgres"
    own = {"database_url": await database_beside("webhooks")} if backend == "postgres" else {}
    settings = make_settings(tmp_path_factory.mktemp(f"webhooks-{backend}"), backend,
                             outbound_allow_private=True, role="api", **own)
    async for server in serve(settings):
        await server.bootstrap()
        clock = Clock(EPOCH)
        scheduler = server.shoal.scheduler
        scheduler.clock = clock
        # Only this feature's kind: run_due sends deliveries and fires nothing else.
        scheduler.kinds = {"delivery": scheduler.kinds["delivery"]}
        yield Hooked(server, clock)


async def subscribe(person: Person, path: str, url: str, events: list[str],
                    **fields: Any) -> dict[str, Any]:
    """Create a subscription at `path` (`/api/webhook-subscriptions/{room}` or
    `/api/houses/{house}/webhook-subscriptions`); returns it as created."""
    r = await person.post(path, {"url": url, "events": events, **fields})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def room_path(room_id: str) -> str:
    return f"/api/webhook-subscriptions/{room_id}"


def house_path(house: House) -> str:
    return f"/api/houses/{house.id}/webhook-subscriptions"


async def deliveries(person: Person, path: str, sub_id: str) -> list[dict[str, Any]]:
    """The subscription's delivery log, newest first."""
    r = await person.get(f"{path}/{sub_id}/deliveries")
    assert r.status_code == 200, r.text
    return r.json()  # type: ignore[no-any-return]


async def subscription(person: Person, path: str, sub_id: str) -> dict[str, Any]:
    """The subscription as its list shows it now."""
    r = await person.get(path)
    assert r.status_code == 200, r.text
    return next(s for s in r.json() if s["id"] == sub_id)  # type: ignore[no-any-return]


def hmac_hex(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def verified(request: Received, secret: str) -> dict[str, Any]:
    """The body of a request whose signatures check out with `secret`, parsed."""
    headers = {k.lower(): v for k, v in request.headers.items()}
    timestamp = headers["x-shoal-timestamp"]
    assert timestamp.isdigit()
    expected = "sha256=" + hmac_hex(secret, f"{timestamp}.".encode() + request.body)
    assert hmac.compare_digest(headers["x-shoal-signature"], expected)
    assert hmac.compare_digest(headers["x-crustocean-signature"],
                               "sha256=" + hmac_hex(secret, request.body))
    return json.loads(request.body)  # type: ignore[no-any-return]


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15.0) -> None:
    """Wait until `check()` holds (work another server's own scheduler does in the
    background); fails if it never does."""
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.05)
