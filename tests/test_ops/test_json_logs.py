"""JSON logs: every line one object, with the request, activation and schedule ids it
concerns; and no secret a representative set of flows used appears in any line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from shoal.logs import AddContext, JsonFormatter, RedactCredentials
from tests.receiver import Receiver, receiver
from tests.support import Person, make_house, make_settings, serve, unique

PASSWORD = "pw-horse-battery-7731"
PROVIDER_KEY = "sk-provider-key-5f2c9e1a7b3d"
AGENT_KEY = "sk-agent-own-key-8d4e2b6a1c0f"
WEBHOOK_SECRET = "whsec-subscription-4a8c2e6f0b"
RESPONSE_SECRET = "whsec-response-9b1d3f5a7c"
MCP_HEADER = "mcp-header-secret-6e0a4c8b2d"
HOOK_SECRET = "hook-signing-secret-3c7e1a9f5b"
METRICS_TOKEN = "metrics-token-2b6f0d4a8e"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def root_lines() -> Iterator[io.StringIO]:
    """Every record reaching the root logger, formatted as `log_format = "json"` does."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactCredentials())
    handler.addFilter(AddContext())
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def failing(_: web.Request) -> web.StreamResponse:
    return web.json_response({"error": "down"}, status=500)


async def eventually(check: Any, timeout: float = 10) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def flows(tmp: Path) -> AsyncIterator[list[str]]:
    """Run flows that handle every kind of secret; yields the secrets they used."""
    settings = make_settings(tmp, "sqlite", log_format="json", outbound_allow_private=True,
                             metrics_token=METRICS_TOKEN)
    async for server in serve(settings, access_log=True, log_level="debug"):
        await server.bootstrap()
        house = await make_house(server)
        room = house.room_id
        http = server.http()
        username = unique()
        r = await http.post("/api/auth/register", json={"username": username,
                                                        "password": PASSWORD})
        assert r.status_code == 201, r.text
        session_token = r.json()["token"]
        r = await http.post("/api/auth/login", json={"username": username,
                                                     "password": PASSWORD + "x"})
        assert r.status_code == 401
        r = await http.post("/api/auth/login", json={"username": username,
                                                     "password": PASSWORD})
        assert r.status_code == 200
        # A token a client wrongly puts in a URL, and the metrics token.
        assert (await http.get(f"/api/health?token={session_token}")).status_code == 200
        r = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert r.status_code == 200
        # Provider keys, an agent's own key and its response webhook's secret.
        r = await house.owner.post(f"/api/houses/{house.id}/keys",
                                   {"provider": "openai", "apiKey": PROVIDER_KEY})
        assert r.status_code == 201, r.text
        r = await house.member.post("/api/agents", {"name": unique("bot"), "agencyId": room})
        bot, bot_token = r.json()["agent"], r.json()["agentToken"]
        r = await house.member.patch(f"/api/agents/{bot['id']}/config", {
            "runtime": "builtin", "model": "offline/shoal-offline",
            "response_webhook_secret": RESPONSE_SECRET})
        assert r.status_code == 200, r.text
        other = await house.member.post("/api/agents", {"name": unique("bot"),
                                                         "agencyId": room})
        r = await house.member.patch(f"/api/agents/{other.json()['agent']['id']}/config", {
            "llm_provider": "openai", "llm_api_key": AGENT_KEY,
            "model": "openai/gpt-5-mini"})
        assert r.status_code == 200, r.text
        # The bot's token on a socket; a mention wakes the offline agent.
        r = await house.member.post(f"/api/agents/{bot['id']}/verify")
        assert r.status_code == 200, r.text
        bot_socket = await server.socket(bot_token)
        await bot_socket.close()
        sock = await house.member.socket()
        await sock.join(room)
        # A webhook subscription whose receiver fails, so its attempts are logged.
        async with receiver(failing) as hook:
            r = await house.admin.post(f"/api/webhook-subscriptions/{room}", {
                "url": hook.url + "/in", "events": ["message.created"],
                "secret": WEBHOOK_SECRET})
            assert r.status_code == 201, r.text
            await sock.call("send-message", {"agencyId": room,
                                             "content": f"@{bot['username']} hello"})

            async def replied(person: Person = house.member, room: str = room,
                              bot_id: str = bot["id"]) -> bool:
                r = await person.get(f"/api/agencies/{room}/messages")
                return any(m["sender_id"] == bot_id for m in r.json())

            await eventually(replied)

            async def attempted(hook: Receiver = hook) -> bool:
                return len(hook.requests) >= 2

            await eventually(attempted)
        await sock.close()
        # An MCP server with a credential header, which cannot be reached.
        r = await house.owner.post(f"/api/houses/{house.id}/mcp-servers", {
            "name": "tools", "url": f"http://127.0.0.1:{closed_port()}/mcp",
            "headers": {"Authorization": f"Bearer {MCP_HEADER}"}})
        assert r.status_code in (201, 409), r.text
        # A hook with its key and signing secret.
        r = await house.admin.post(f"/api/houses/{house.id}/hooks", {
            "name": "alerts", "rooms": [room], "secret": HOOK_SECRET})
        assert r.status_code == 201, r.text
        hook_key = r.json()["key"]
        r = await http.post("/api/hooks/messages", json={"agencyId": room, "content": "up"},
                            headers={"X-Shoal-Hook-Key": hook_key})
        assert r.status_code == 201, r.text
        r = await http.post("/api/hooks/messages", json={"agencyId": room, "content": "x"},
                            headers={"X-Shoal-Hook-Key": hook_key + "wrong"})
        assert r.status_code == 401
        yield [PASSWORD, PROVIDER_KEY, AGENT_KEY, WEBHOOK_SECRET, RESPONSE_SECRET,
               MCP_HEADER, HOOK_SECRET, METRICS_TOKEN, session_token, bot_token, hook_key,
               house.owner.token, house.member.token, settings.secret or ""]


async def test_json_lines_carry_ids_and_no_secret(
        tmp_path: Path, root_lines: io.StringIO, capsys: pytest.CaptureFixture[str]) -> None:
    secrets: list[str] = []
    async for used in flows(tmp_path):
        secrets = used
    captured = capsys.readouterr()
    uvicorn_lines = (captured.out + captured.err).splitlines()
    shoal_lines = root_lines.getvalue().splitlines()
    everything = "\n".join(uvicorn_lines + shoal_lines)
    assert secrets and all(secrets)
    for secret in secrets:
        assert secret not in everything, f"a secret reached the logs: {secret[:6]}..."

    lines = [json.loads(line) for line in uvicorn_lines + shoal_lines if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    missing = [line["message"] for line in access if len(line.get("request_id", "")) != 16]
    assert access and not missing, missing
    assert any("/api/health?token=[redacted]" in line["message"] for line in access)
    # A line about an activation names it; a line about a delivery names its schedule.
    assert any("activation_id" in line and line["message"].startswith("activation ended")
               for line in lines)
    assert any("schedule_id" in line and "webhook delivery" in line["message"]
               for line in lines)


def test_the_text_format_puts_the_ids_after_the_message() -> None:
    script = ("import logging\n"
              "from shoal.logs import configure_logging, log_context\n"
              "configure_logging('info')\n"
              "with log_context(request_id='req42', schedule_id='sch7'):\n"
              "    logging.getLogger('shoal.x').info('fired %s', 'x?password=hunter2')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == ("INFO shoal.x: fired x?password=[redacted] "
                                   "request_id=req42 schedule_id=sch7")
