"""Test helpers that act as Shoal's users do: over HTTP and Socket.IO."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
import sqlalchemy as sa
import uvicorn
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from shoal.app import create_app, server_config
from shoal.bootstrap import ensure_home
from shoal.config import Settings, normalize_database_url
from shoal.core import Shoal

# One TLS context for every test client: building one loads the system's CA bundle, which
# costs tens of milliseconds, and tests make thousands of clients (they all talk plain HTTP).
TLS = httpx.create_ssl_context()


def unique(prefix: str = "u") -> str:
    """A short name no other test uses."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@dataclass
class Person:
    """A logged-in account with an HTTP client that carries its token."""

    server: ShoalServer
    token: str
    user: dict[str, Any]
    http: httpx.AsyncClient

    @property
    def id(self) -> str:
        return str(self.user["id"])

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.post(path, json=json, **kw)

    async def patch(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.patch(path, json=json, **kw)

    async def put(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return await self.http.put(path, json=json, **kw)

    async def delete(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.delete(path, **kw)

    async def socket(self) -> Socket:
        """A connected Socket.IO client for this person."""
        return await self.server.socket(self.token)


@dataclass
class Socket:
    """A Socket.IO client that records every event it receives."""

    client: socketio.AsyncClient
    events: list[tuple[str, Any]] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def received(self, event: str) -> list[Any]:
        return [data for name, data in self.events if name == event]

    async def wait_for(self, event: str, count: int = 1, timeout: float = 10.0) -> list[Any]:
        """Wait until `count` events of this name have arrived; return them all."""
        async with asyncio.timeout(timeout):
            while len(self.received(event)) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.received(event)

    async def call(self, event: str, data: Any, timeout: float = 10.0) -> Any:
        """Emit with an ack callback and return the ack."""
        return await self.client.call(event, data, timeout=timeout)

    async def join(self, room_id: str, **extra: Any) -> dict[str, Any]:
        ack = await self.call("join-agency", {"agencyId": room_id, **extra})
        assert ack["ok"], ack
        return ack  # type: ignore[no-any-return]

    async def close(self) -> None:
        await self.client.disconnect()


@dataclass
class ShoalServer:
    """A Shoal served on loopback, and ways to act as its users."""

    shoal: Shoal
    url: str
    clients: list[httpx.AsyncClient] = field(default_factory=list)
    sockets: list[Socket] = field(default_factory=list)
    home_id: str = ""
    lobby_id: str = ""

    async def bootstrap(self) -> None:
        setup = await ensure_home(self.shoal.db)
        self.home_id = setup.house.id
        self.lobby_id = setup.lobby.id if setup.lobby else ""

    def http(self, token: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=30, verify=TLS)
        self.clients.append(client)
        return client

    async def register(self, name: str | None = None, display_name: str | None = None
                       ) -> Person:
        """A new person (a member of the default house)."""
        username = name or unique()
        r = await self.http().post("/api/auth/register", json={
            "username": username, "password": "correct horse", "displayName": display_name})
        assert r.status_code == 201, r.text
        body = r.json()
        return Person(self, body["token"], body["user"], self.http(body["token"]))

    async def socket(self, token: str) -> Socket:
        client = socketio.AsyncClient(reconnection=False)
        sock = Socket(client)
        self.sockets.append(sock)

        async def record(event: str, data: Any = None) -> None:
            sock.events.append((event, data))
            sock._arrived.set()

        refusals: list[Any] = []
        client.on("*", record)
        client.on("connect_error", refusals.append)
        try:
            await client.connect(self.url, auth={"token": token}, transports=["websocket"],
                                 wait_timeout=10)
        except socketio.exceptions.ConnectionError as exc:
            # Surface the server's connect_error message, as a JavaScript client shows it.
            raise socketio.exceptions.ConnectionError(f"{exc}: {refusals}") from exc
        return sock


@dataclass
class House:
    """A fresh house with people of every role, and a public room in it."""

    id: str
    room_id: str
    owner: Person
    admin: Person
    member: Person
    guest: Person


async def make_house(server: ShoalServer) -> House:
    """A new house whose owner invites an admin, a member and a guest; plus a public room."""
    owner = await server.register()
    r = await owner.post("/api/houses", {"name": unique("house")})
    assert r.status_code == 201, r.text
    house_id = r.json()["id"]
    people = {}
    for role in ("admin", "member", "guest"):
        person = await server.register()
        r = await owner.post(f"/api/houses/{house_id}/invites", {"role": role})
        assert r.status_code == 201, r.text
        r = await person.post("/api/houses/join", {"code": r.json()["code"]})
        assert r.status_code == 200, r.text
        people[role] = person
    r = await owner.post("/api/agencies", {"name": unique("room"), "houseId": house_id})
    assert r.status_code == 201, r.text
    return House(house_id, r.json()["id"], owner, people["admin"], people["member"],
                 people["guest"])


async def reset_postgres(url: str) -> None:
    """Start a PostgreSQL test run from an empty public schema. The test database's sessions
    commit without waiting for the write-ahead log to reach the disk (it is flushed a moment
    later): nothing a test sees changes, only a crash of the database could lose the last
    commits, and each commit no longer waits on the disk."""
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        name = make_url(url).database
        await conn.execute(sa.text(f'ALTER DATABASE "{name}" SET synchronous_commit TO off'))
        await conn.execute(sa.text("DROP SCHEMA IF EXISTS public CASCADE"))
        await conn.execute(sa.text("CREATE SCHEMA public"))
    await engine.dispose()


async def database_beside(suffix: str, url: str | None = None) -> str:
    """An emptied PostgreSQL database `<name>_<suffix>` beside the test database (or `url`'s),
    created if missing: for servers whose schedulers must not meet the shared server's."""
    base = make_url(normalize_database_url(url or os.environ["SHOAL_TEST_DATABASE_URL"]))
    name = f"{base.database}_{suffix}"
    engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
    async with engine.connect() as conn:
        if not await conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"),
                                 {"n": name}):
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    await engine.dispose()
    own = base.set(database=name).render_as_string(hide_password=False)
    await reset_postgres(own)
    return own


def make_settings(tmp: Path, backend: str, **overrides: object) -> Settings:
    """Settings for a throwaway Shoal on the given backend."""
    url = None
    if backend == "postgres":
        url = normalize_database_url(os.environ["SHOAL_TEST_DATABASE_URL"])
    values: dict[str, object] = {
        "data_dir": tmp,
        "database_url": url,
        "secret": "test-secret-do-not-use",
        "open_registration": True,
        "auth_attempts_per_minute": 1_000_000,
        "argon2_time_cost": 1,  # cheap hashes keep the suite fast; still argon2id
        "argon2_memory_kib": 1024,
        "shutdown_grace_seconds": 1,  # a test's server stops without waiting on its runs
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


async def serve(settings: Settings, **options: Any) -> AsyncIterator[ShoalServer]:
    """Run Shoal with uvicorn, configured as `shoal serve` does, on a free loopback port for
    the duration of the block; `options` override uvicorn settings (`access_log=True`)."""
    shoal = Shoal(settings)
    app = create_app(settings, shoal)
    sock = socket.socket()
    # Accepted connections inherit this; without it keep-alive responses wait on delayed ACKs.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # A bounded shutdown: a test that fails with a socket still open reports its failure
    # instead of waiting forever for the connection to close.
    server = uvicorn.Server(server_config(settings, app, **{
        "log_level": "warning", "access_log": False, "lifespan": "on",
        "timeout_graceful_shutdown": 5, **options}))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    running = ShoalServer(shoal, f"http://127.0.0.1:{port}")
    try:
        yield running
    finally:
        # Sockets tests left open would hold the shutdown for its whole grace period.
        for open_socket in running.sockets:
            await open_socket.close()
        for client in running.clients:
            await client.aclose()
        server.should_exit = True
        await task
        sock.close()


@dataclass
class Clock:
    """A clock that moves only when told to, for code that takes a `clock` callable."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]],
             loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Make the named hosts resolve to these addresses on `loop` (the running one by
    default); other names resolve as usual."""
    loop = loop or asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: str, port: Any, *args: Any, **kw: Any) -> list[Any]:
        if host not in answers:
            return await real(host, port, *args, **kw)
        return [(socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
                 (a, int(port))) for a in answers[host]]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


# The internal addresses an outbound URL may not name, in the forms people (and attackers) use.
INTERNAL_URLS = [
    "http://127.0.0.1/hook", "http://[::1]/hook", "http://0.0.0.0/hook",
    "http://169.254.169.254/latest/meta-data/", "http://localhost:8080/hook",
    "http://2130706433/hook", "http://127.1/hook", "http://[::ffff:127.0.0.1]/hook",
    "http://0x7f000001/hook",
]
