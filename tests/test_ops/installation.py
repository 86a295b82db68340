"""A SQLite installation filled through the API, and what its API answered, for the tests
that copy, back up and restore it and then read everything back."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.config import Settings
from tests.receiver import Receiver
from tests.support import Person, ShoalServer, make_house, make_settings, unique

WEBHOOK_SECRET = "whsec-copied-0123456789abcdef"
PROVIDER_KEY = "sk-copied-provider-key-0123456789"
SECRET = "test-secret-do-not-use"


@dataclass
class Filled:
    """The people's tokens and the answers of every read, as the original server gave them."""

    house_id: str
    room_id: str
    tokens: dict[str, str]
    reads: dict[str, Any] = field(default_factory=dict)


def installation_settings(data_dir: Path, **overrides: Any) -> Settings:
    return make_settings(data_dir, "sqlite", outbound_allow_private=True, **overrides)


async def eventually(check: Any, timeout: float = 15) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


def reads(house_id: str, room_id: str, bot_id: str) -> dict[str, str]:
    """The GETs whose answers must survive a copy or a restore (path by name)."""
    return {
        "messages": f"/api/agencies/{room_id}/messages?limit=100",
        "rooms": "/api/agencies",
        "houses": "/api/houses",
        "agents": "/api/agents",
        "agent config": f"/api/agents/{bot_id}/config",
        "activations": f"/api/agents/{bot_id}/activations",
        "runs": f"/api/agencies/{room_id}/runs",
        "heartbeats": f"/api/houses/{house_id}/heartbeats",
        "cron jobs": f"/api/houses/{house_id}/cron-jobs",
        "keys": f"/api/houses/{house_id}/keys",
        "webhooks": f"/api/webhook-subscriptions/{room_id}",
        "hooks": f"/api/houses/{house_id}/hooks",
    }


async def fill(server: ShoalServer, hook: Receiver) -> Filled:
    """Houses, rooms, messages, an agent with an answered activation, schedules, a provider
    key and a signed webhook subscription, all made through the API."""
    house = await make_house(server)
    room = house.room_id
    owner = house.owner
    r = await owner.post("/api/agents", {"name": unique("bot"), "agencyId": room})
    assert r.status_code == 201, r.text
    bot = r.json()["agent"]
    assert (await owner.post(f"/api/agents/{bot['id']}/verify")).status_code == 200
    r = await owner.patch(f"/api/agents/{bot['id']}/config",
                          {"runtime": "builtin", "model": "offline/shoal-offline"})
    assert r.status_code == 200, r.text
    r = await owner.post(f"/api/houses/{house.id}/keys",
                         {"provider": "openai", "apiKey": PROVIDER_KEY})
    assert r.status_code == 201, r.text
    r = await owner.post(f"/api/webhook-subscriptions/{room}", {
        "url": hook.url + "/in", "events": ["message.created"], "secret": WEBHOOK_SECRET})
    assert r.status_code == 201, r.text
    r = await owner.post(f"/api/agencies/{room}/heartbeats",
                         {"agent": f"@{bot['username']}", "interval": "6h"})
    assert r.status_code == 201, r.text
    r = await owner.post(f"/api/agencies/{room}/cron-jobs", {
        "agent": f"@{bot['username']}", "every": "12h", "prompt": "summarise the day"})
    assert r.status_code == 201, r.text
    r = await owner.post(f"/api/houses/{house.id}/hooks", {"name": "alerts", "rooms": [room]})
    assert r.status_code == 201, r.text
    r = await owner.post("/api/agencies", {"name": unique("room"), "houseId": house.id})
    assert r.status_code == 201, r.text
    for i in range(5):
        r = await house.member.post(f"/api/agencies/{room}/messages",
                                    {"content": f"message {i} with ünïcode ✓"})
        assert r.status_code == 201, r.text
    r = await house.member.post(f"/api/agencies/{room}/messages",
                                {"content": f"@{bot['username']} are you there?"})
    assert r.status_code == 201, r.text
    mention_id = r.json()["id"]

    async def answered() -> bool:
        r = await owner.get(f"/api/agencies/{room}/messages")
        return any(m["sender_id"] == bot["id"] for m in r.json())

    await eventually(answered)

    async def delivered() -> bool:
        return len(hook.requests) >= 7

    await eventually(delivered)
    # Let the worker record the activation's end before reading.
    async def finished() -> bool:
        r = await owner.get(f"/api/agents/{bot['id']}/activations")
        return bool(r.json()) and all(a["status"] == "done" for a in r.json())

    await eventually(finished)
    # A note, and a run an SDK agent reports with its transcript.
    r = await house.member.post(f"/api/agencies/{room}/messages",
                                {"content": "/save deploy on Thursday"})
    assert r.status_code == 201, r.text
    run_id = await report_a_run(server, owner, room, trigger_id=mention_id)
    paths = {**reads(house.id, room, bot["id"]), "run": f"/api/runs/{run_id}",
             "run events": f"/api/runs/{run_id}/events"}
    filled = Filled(house.id, room, {"owner": owner.token, "member": house.member.token})
    filled.reads = await read_all(owner, paths)
    assert filled.reads["run"]["status"] == "completed"
    filled.reads["paths"] = paths
    return filled


async def report_a_run(server: ShoalServer, owner: Person, room: str, trigger_id: str) -> str:
    r = await owner.post("/api/agents", {"name": unique("agent"), "agencyId": room})
    agent_id, agent_token = r.json()["agent"]["id"], r.json()["agentToken"]
    assert (await owner.post(f"/api/agents/{agent_id}/verify")).status_code == 200
    r = await server.http().post("/api/auth/agent", json={"agentToken": agent_token})
    assert r.status_code == 200, r.text
    agent = await server.socket(r.json()["token"])
    await agent.join(room)
    run_id = unique("run")
    fields = {"runId": run_id, "agencyId": room}
    ack = await agent.call("agent-run-start", {**fields, "agentId": agent_id,
                                               "triggerMessageId": trigger_id,
                                               "name": "fix build"})
    assert ack["ok"], ack
    assert (await agent.call("agent-run-status", {**fields, "status": "diagnosing"}))["ok"]
    ack = await agent.call("agent-run-complete", {**fields, "summary": "fixed",
                                                  "transcript": [{"role": "user",
                                                                  "content": "fix it"}]})
    assert ack["ok"], ack
    await agent.close()
    return run_id


async def read_all(person: Person, paths: dict[str, str]) -> dict[str, Any]:
    answers = {}
    for name, path in paths.items():
        r = await person.get(path)
        assert r.status_code == 200, (name, r.text)
        answers[name] = r.json()
    return answers


async def read_back(server: ShoalServer, filled: Filled) -> dict[str, Any]:
    """The same reads on another server, with the same tokens."""
    owner = Person(server, filled.tokens["owner"], {}, server.http(filled.tokens["owner"]))
    return await read_all(owner, filled.reads["paths"])
