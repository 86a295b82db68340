"""Every error is `{"error": "..."}` with the right status, and no input produces a 500.

Each REST route (read from the app's OpenAPI document) gets malformed input: no body, bodies of
the wrong JSON type, bodies that are not JSON, fields of the wrong type, bodies over the size
cap, unknown and garbage ids, bad query parameters. Socket events get the same treatment and
must answer with a refusal, never an internal error.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from shoal.crew.tables import Crew, CrewMember, CrewTask
from shoal.runtime.sessions import open_session, session_key
from shoal.store.tables import User
from shoal.subagents.tables import Subagent
from shoal.tools.base import ToolScope
from tests.support import Person, ShoalServer, unique

UNKNOWN_ID = "01900000-0000-7000-8000-000000000000"
GARBAGE_IDS = ("x" * 300, "%00", "%F0%9F%A6%88", "'; DROP TABLE users; --", "-1")
# What an error message must never show: a traceback, a driver, SQL or Python internals.
LEAK = re.compile(r"Traceback|File \"|line \d|sqlalchemy|asyncpg|sqlite|psycopg|pydantic|"
                  r"SELECT |INSERT |UPDATE |DELETE FROM|Exception|Error\(|0x[0-9a-f]{6}|"
                  r"internal error", re.IGNORECASE)
# Pydantic's own wording, which names its internals instead of saying what to send.
PYDANTIC_WORDING = re.compile(r"Input should|Field required|instance of|Value error|"
                              r"Extra inputs|should have (at least|at most)")
RUN_EVENTS = ("agent-run-start", "agent-run-status", "agent-run-tool-call",
              "agent-run-tool-result", "agent-run-stream", "agent-run-permission",
              "agent-run-complete", "agent-run-error", "agent-run-record",
              "agent-run-permission-decision", "agent-run-interrupt", "agent-run-events")
METHODS = ("get", "post", "put", "patch", "delete")


@dataclass
class Targets:
    """Real ids the owner of a fresh house may act on, by route parameter name."""

    values: dict[str, str]
    owner: Person
    server: ShoalServer

    def fill(self, route: str, **override: str) -> str:
        """The route with its parameters replaced by real ids, or by the overrides."""
        return route.format_map({**self.values, **override})

    def body(self, value: Any) -> Any:
        """A body with its `{param}` placeholders replaced by real ids."""
        if isinstance(value, str) and value.startswith("{") and value.endswith("}"):
            return self.values[value[1:-1]]
        if isinstance(value, dict):
            return {k: self.body(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.body(v) for v in value]
        return value


# A valid body per route that takes one; a route with a body and no entry fails a test.
# Values in braces are filled with real ids.
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/api/auth/register"): {"username": "someone", "password": "correct horse",
                                     "displayName": "Some One", "inviteCode": "shi_x"},
    ("POST", "/api/auth/login"): {"username": "someone", "password": "correct horse"},
    ("POST", "/api/auth/agent"): {"agentToken": "shb_x"},
    ("POST", "/api/auth/tokens"): {"name": "ci", "expires": "30d"},
    ("POST", "/api/agents"): {"name": "Helper", "role": "helps", "agencyId": "{agency_id}",
                              "houseId": "{house_id}"},
    ("PATCH", "/api/agents/{agent_id}/config"): {"role": "helps", "personality": "calm"},
    ("POST", "/api/agencies"): {"name": "Room", "charter": "talk", "isPrivate": False,
                                "houseId": "{house_id}"},
    ("PATCH", "/api/agencies/{agency_id}"): {"name": "Room", "charter": "talk",
                                             "isPrivate": False},
    ("POST", "/api/agencies/{agency_id}/messages"): {"content": "hi", "type": "chat",
                                                     "metadata": {"k": 1}},
    ("PATCH", "/api/messages/{message_id}"): {"content": "hi", "metadata": {"k": 1}},
    ("POST", "/api/messages/{message_id}/reactions"): {"emoji": "👍"},
    # The upload routes take multipart bodies: any JSON is refused with what to send.
    ("POST", "/api/agencies/{agency_id}/attachments"): {"file": "dot.png"},
    ("PUT", "/api/me/avatar"): {"file": "me.png"},
    ("PUT", "/api/agents/{agent_id}/avatar"): {"file": "bot.png"},
    ("POST", "/api/agencies/{agency_id}/agents"): {"agentId": "{agent_id}"},
    ("PUT", "/api/agencies/{agency_id}/binding"): {"agent": "{agent_id}"},
    ("POST", "/api/houses"): {"name": "House", "description": "ours"},
    ("PATCH", "/api/houses/{house_id}"): {"name": "House", "description": "ours"},
    ("PATCH", "/api/houses/{house_id}/members/{user_id}"): {"role": "member"},
    ("PATCH", "/api/houses/{house_id}/settings"): {
        "models": {}, "relevance_model": "offline", "run_permission_deciders": "initiator",
        "timezone": "UTC", "interaction_budget": 20},
    ("POST", "/api/houses/{house_id}/invites"): {"role": "member", "expires": "1d",
                                                 "max_uses": 2},
    ("POST", "/api/houses/join"): {"code": "shi_x"},
    ("POST", "/api/runs/{run_id}/permissions/{permission_id}"): {"decision": "deny",
                                                                 "message": "no"},
    ("POST", "/api/runs/{run_id}/interrupt"): {"action": "adjust", "message": "slower"},
    ("POST", "/api/subagents"): {"roomId": "{agency_id}", "task": "look into it",
                                 "label": "a", "agentId": "@someone", "model": "offline",
                                 "run_timeout_seconds": 60, "cleanup": "keep",
                                 "announce": "none"},
    ("POST", "/api/webhook-subscriptions/{agency_id}"): {
        "url": "https://example.com/hook", "events": ["message.created"],
        "secret": "0123456789abcdef", "description": "ci", "enabled": False},
    ("PATCH", "/api/webhook-subscriptions/{agency_id}/{subscription_id}"): {
        "url": "https://example.com/hook", "events": ["message.created"],
        "secret": "0123456789abcdef", "description": "ci", "enabled": False},
    ("POST", "/api/houses/{house_id}/webhook-subscriptions"): {
        "url": "https://example.com/hook", "events": ["message.created"],
        "secret": "0123456789abcdef", "description": "ci", "enabled": False},
    ("PATCH", "/api/houses/{house_id}/webhook-subscriptions/{subscription_id}"): {
        "url": "https://example.com/hook", "events": ["message.created"],
        "secret": "0123456789abcdef", "description": "ci", "enabled": False},
    ("POST", "/api/custom-commands/{agency_id}/commands"): {
        "name": "standup", "webhook_url": "https://example.com/standup",
        "description": "daily", "invoke_permission": "open"},
    ("PATCH", "/api/custom-commands/{agency_id}/commands/{command_id}"): {
        "name": "standup", "webhook_url": "https://example.com/standup",
        "description": "daily", "invoke_permission": "open"},
    # Switched off, so the server is saved without being reached.
    ("POST", "/api/houses/{house_id}/mcp-servers"): {
        "name": "tools", "url": "https://mcp.invalid/mcp", "headers": {"X-Api-Key": "k"},
        "enabled": False, "transport": "sse"},
    ("PATCH", "/api/houses/{house_id}/mcp-servers/{server_id}"): {
        "name": "tools", "url": "https://mcp.invalid/mcp", "headers": {"X-Api-Key": "k"},
        "enabled": False, "transport": "sse"},
    ("POST", "/api/houses/{house_id}/hooks"): {"name": "CI", "rooms": ["{agency_id}"],
                                               "template": "CI: {{ text }}",
                                               "secret": "s3cret-value"},
    ("PATCH", "/api/houses/{house_id}/hooks/{hook_id}"): {"name": "CI", "rooms": ["{agency_id}"],
                                                          "template": "CI: {{ text }}",
                                                          "secret": "s3cret-value"},
    ("POST", "/api/hooks/messages"): {"agencyId": "{agency_id}", "content": "hi",
                                      "type": "chat", "metadata": {"k": 1}},
    ("PATCH", "/api/hooks/messages/{message_id}"): {"content": "hi", "metadata": {"k": 1}},
    # A delivery is any JSON object its sender signs: no field has a wrong type.
    ("POST", "/api/hooks/{hook_id}/github"): {},
    ("POST", "/api/hooks/{hook_id}/sentry"): {},
    ("POST", "/api/hooks/{hook_id}/generic"): {},
    ("POST", "/api/houses/{house_id}/keys"): {"provider": "openai", "apiKey": "sk-x",
                                              "label": "team"},
    ("PATCH", "/api/agents/{agent_id}"): {"name": "Helper"},
    ("POST", "/api/agencies/{agency_id}/heartbeats"): {"agent": "{agent_id}", "interval": "1h",
                                                       "prompt": "check in"},
    ("PATCH", "/api/heartbeats/{heartbeat_id}"): {"interval": "2h", "prompt": "check",
                                                  "enabled": True},
    ("POST", "/api/agencies/{agency_id}/cron-jobs"): {"agent": "{agent_id}", "every": "1h",
                                                      "prompt": "digest", "tz": "UTC",
                                                      "deliver": True, "history": False},
    ("PATCH", "/api/cron-jobs/{job_id}"): {"prompt": "digest", "deliver": True,
                                           "history": False, "enabled": True},
    ("POST", "/api/agencies/{agency_id}/crews"): {
        "goal": "ship it", "lead": "{agent_id}", "name": "c",
        "members": [{"agent": "{agent_id}", "role": "developer"}], "agent_budget": 5,
        "refresh_seconds": 60, "lead_idle_seconds": 60, "model_config": {"developer": ["*"]}},
    ("PATCH", "/api/crews/{crew_id}"): {"goal": "g", "name": "n", "agent_budget": 5,
                                        "refresh_seconds": 60, "lead_idle_seconds": 60},
    ("PATCH", "/api/crews/{crew_id}/heartbeat"): {"halted": True},
    ("POST", "/api/crews/{crew_id}/members"): {"agent": "{agent_id}", "role": "developer"},
    ("POST", "/api/crews/{crew_id}/tasks"): {"title": "t", "description": "d",
                                             "assignee": "{agent_id}", "status": "todo"},
    ("PATCH", "/api/crews/{crew_id}/tasks/{task_id}"): {"title": "t", "description": "d",
                                                        "assignee": "{agent_id}",
                                                        "status": "done"},
    ("POST", "/api/crews/{crew_id}/reports"): {"kind": "progress", "text": "x"},
    ("POST", "/api/crews/{crew_id}/locks"): {"resource": "x"},
    ("PUT", "/api/crews/{crew_id}/model-config"): {"models": {"developer": ["*"]}},
    ("PUT", "/api/projects/{crew_id}/model-config"): {"models": {"developer": ["*"]}},
}
PUBLIC_ROUTES = {("GET", "/api/health"), ("GET", "/api/ready"), ("POST", "/api/auth/register"),
                 ("POST", "/api/auth/login"), ("POST", "/api/auth/agent"),
                 ("GET", "/api/webhook-subscriptions/meta/events")}

# Bodies no route accepts: each must get a 400.
NOT_A_BODY: list[tuple[str, dict[str, Any]]] = [
    ("no body", {}),
    ("null", {"content": b"null", "headers": {"content-type": "application/json"}}),
    ("a list", {"json": [1, 2]}),
    ("a string", {"json": "text"}),
    ("a number", {"json": 7}),
    ("not JSON", {"content": b"{not json", "headers": {"content-type": "application/json"}}),
    ("truncated JSON", {"content": b'{"name": "x',
                        "headers": {"content-type": "application/json"}}),
    ("invalid UTF-8", {"content": b'{"name": "\xff\xfe"}',
                       "headers": {"content-type": "application/json"}}),
    ("plain text", {"content": b"name=x", "headers": {"content-type": "text/plain"}}),
    ("a form", {"data": {"name": "x"}}),
]
WRONG_TYPES: list[Any] = [["x"], {"x": 1}, 1.5]


def assert_error(r: httpx.Response, *statuses: int) -> str:
    """The answer is exactly `{"error": "<sentence>"}` with one of the statuses; returns it."""
    where = f"{r.request.method} {r.request.url}"
    assert r.status_code in statuses, f"{where}: {r.status_code} {r.text[:300]}"
    assert r.headers["content-type"].startswith("application/json"), where
    body = r.json()
    assert isinstance(body, dict) and list(body) == ["error"], f"{where}: {r.text[:300]}"
    message = body["error"]
    assert isinstance(message, str) and message.strip(), where
    assert not LEAK.search(message), f"{where}: leaks {message!r}"
    assert not PYDANTIC_WORDING.search(message), f"{where}: not a sentence: {message!r}"
    return message


async def openapi(server: ShoalServer) -> dict[str, Any]:
    r = await server.http().get("/openapi.json")
    return r.json()  # type: ignore[no-any-return]


def routes(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in spec["paths"].items()
            for method, op in ops.items() if method in METHODS]


@pytest.fixture(scope="module")
async def targets(shoal_server: ShoalServer) -> AsyncIterator[Targets]:
    """A house the caller owns, with one of everything a route can name."""
    owner = await shoal_server.register()
    other = await shoal_server.register()
    r = await owner.post("/api/houses", {"name": unique("house")})
    house_id = r.json()["id"]
    r = await owner.post(f"/api/houses/{house_id}/invites", {"role": "member"})
    r = await other.post("/api/houses/join", {"code": r.json()["code"]})
    assert r.status_code == 200, r.text
    r = await owner.post("/api/agencies", {"name": unique("room"), "houseId": house_id})
    room_id = r.json()["id"]
    r = await owner.post(f"/api/agencies/{room_id}/messages", {"content": "first"})
    message_id = r.json()["id"]
    r = await owner.post("/api/agents", {"name": unique("bot"), "houseId": house_id})
    agent_id = r.json()["agent"]["id"]
    r = await owner.post("/api/auth/tokens", {"name": "spare"})
    token_id = r.json()["id"]
    r = await owner.post(f"/api/houses/{house_id}/invites", {"role": "guest"})
    invite_id = r.json()["id"]
    r = await owner.post(f"/api/webhook-subscriptions/{room_id}", {
        "url": "https://example.com/hook", "events": ["message.created"], "enabled": False})
    subscription_id = r.json()["id"]  # a room's: house routes answer 404 for it, as they should
    r = await owner.post(f"/api/custom-commands/{room_id}/commands",
                         {"name": "standup", "webhook_url": "https://example.com/standup"})
    command_id = r.json()["id"]
    r = await owner.post(f"/api/houses/{house_id}/hooks", {"name": "ci", "rooms": [room_id]})
    hook_id = r.json()["id"]
    owner.http.headers["X-Crustocean-Hook-Key"] = r.json()["key"]  # for the hook routes
    r = await owner.post(f"/api/houses/{house_id}/mcp-servers",
                         {"name": "tools", "url": "https://mcp.invalid/mcp", "enabled": False})
    server_id = r.json()["id"]
    r = await owner.post(f"/api/houses/{house_id}/keys", {"provider": "openai", "apiKey": "sk-x"})
    key_id = r.json()["id"]
    r = await owner.post(f"/api/agencies/{room_id}/heartbeats",
                         {"agent": agent_id, "interval": "1h"})
    heartbeat_id = r.json()["id"]
    r = await owner.post(f"/api/agencies/{room_id}/cron-jobs",
                         {"agent": agent_id, "every": "1h", "prompt": "digest"})
    job_id = r.json()["id"]
    runs = shoal_server.shoal.runs
    async with shoal_server.shoal.db.write() as session:
        agent = await session.get(User, agent_id)
        assert agent is not None
        agent.verified = True
    await owner.post(f"/api/agencies/{room_id}/agents", {"agentId": agent_id})
    run_id = (await runs.start(agent, room_id))["runId"]
    found = await shoal_server.shoal.tools.gather(ToolScope(agent, house_id, room_id))
    saved = await next(t for t in found.tools if t.name == "memory_save").run({"text": "kept"})
    note_id = saved.split()[2]
    async with shoal_server.shoal.db.write() as session:
        child = Subagent(house_id=house_id, room_id=room_id, parent_bot_id=agent_id,
                         child_bot_id=agent_id, task="a finished task", label="",
                         cleanup="keep", announce="none", state="completed",
                         input_tokens=0, output_tokens=0)
        session.add(child)
        crew = Crew(house_id=house_id, room_id=room_id, goal="a goal", lead_bot_id=agent_id,
                    created_by=owner.id, model_config={})
        session.add(crew)
        await session.flush()
        task = CrewTask(crew_id=crew.id, title="a task")
        session.add_all([CrewMember(crew_id=crew.id, bot_id=agent_id, role="lead"), task])
        await session.flush()
        sub_id = child.id
    r = await owner.http.post(f"/api/agencies/{room_id}/attachments",
                              files={"file": ("notes.txt", b"notes", "text/plain")})
    attachment_id = r.json()["id"]
    await owner.post(f"/api/agencies/{room_id}/messages",
                     {"content": "a file", "attachments": [attachment_id]})
    await runs.gates.request(run_id, agent, "p1", "deploy", "to prod", 600)
    key = session_key("room", room_id)
    await open_session(shoal_server.shoal.db, agent_id, house_id, room_id, key)
    yield Targets({"house_id": house_id, "agency_id": room_id, "message_id": message_id,
               "subscription_id": subscription_id,
               "agent_id": agent_id, "token_id": token_id, "invite_id": invite_id,
               "user_id": other.id, "run_id": run_id, "permission_id": "p1", "hook_id": hook_id,
               "key_id": key_id, "command_id": command_id, "heartbeat_id": heartbeat_id,
               "job_id": job_id, "server_id": server_id, "key": key, "note_id": note_id,
               "sub_id": sub_id, "attachment_id": attachment_id, "emoji": "👍",
               "crew_id": crew.id, "task_id": task.id, "agent": agent_id, "resource": "x"},
                  owner, shoal_server)


async def test_every_route_with_a_body_has_a_valid_body(shoal_server: ShoalServer) -> None:
    spec = await openapi(shoal_server)
    with_body = {(m, p) for m, p, op in routes(spec) if "requestBody" in op}
    assert with_body == set(VALID_BODIES)


async def test_malformed_bodies_are_400_on_every_route(targets: Targets) -> None:
    spec = await openapi(targets.server)
    failures = []
    for method, route, op in routes(spec):
        if "requestBody" not in op:
            continue
        for label, request in NOT_A_BODY:
            r = await targets.owner.http.request(method, targets.fill(route), **request)
            try:
                assert_error(r, 400)
            except AssertionError as exc:
                failures.append(f"{label}: {exc}")
    assert failures == []


async def test_fields_of_the_wrong_type_are_400(targets: Targets) -> None:
    failures = []
    for (method, route), body in VALID_BODIES.items():
        valid = targets.body(body)
        for field in valid:
            for wrong in WRONG_TYPES:
                if field == "metadata" and isinstance(wrong, dict):
                    continue  # any object is valid metadata
                r = await targets.owner.http.request(method, targets.fill(route),
                                                     json={**valid, field: wrong})
                try:
                    assert_error(r, 400)
                except AssertionError as exc:
                    failures.append(f"{field}={wrong!r}: {exc}")
    assert failures == []


async def test_bodies_over_the_cap_are_413_on_every_route(targets: Targets) -> None:
    spec = await openapi(targets.server)
    cap = targets.server.shoal.settings.max_body_bytes
    big = b'{"content": "' + b"x" * cap + b'"}'
    for method, route, _ in routes(spec):
        r = await targets.owner.http.request(method, targets.fill(route), content=big,
                                             headers={"content-type": "application/json"})
        message = assert_error(r, 413)
        assert message == f"request body is larger than the {cap}-byte limit"

    async def chunks() -> AsyncIterator[bytes]:  # no content-length: counted as it arrives
        for _ in range(cap // 16_384 + 2):
            yield b" " * 16_384

    r = await targets.owner.http.post(targets.fill("/api/agencies/{agency_id}/messages"),
                                      content=chunks(),
                                      headers={"content-type": "application/json"})
    assert assert_error(r, 413) == f"request body is larger than the {cap}-byte limit"


async def test_unknown_ids_are_404(targets: Targets) -> None:
    spec = await openapi(targets.server)
    failures = []
    for method, route, _ in routes(spec):
        body = targets.body(VALID_BODIES.get((method, route)))
        for param in re.findall(r"{(\w+)}", route):
            if param == "emoji":
                # Not an id: one emoji nobody reacted with (a "garbage id" here is 🦈) is a
                # no-op, anything else 404 (tests/test_rooms/test_reactions.py).
                continue
            for unknown in (UNKNOWN_ID, *GARBAGE_IDS):
                url = targets.fill(route, **{param: unknown})
                r = await targets.owner.http.request(method, url, json=body)
                # A well-formed unknown id is not found; a garbage one may also be refused.
                statuses = (404,) if unknown == UNKNOWN_ID else (400, 404)
                try:
                    assert_error(r, *statuses)
                except AssertionError as exc:
                    failures.append(str(exc))
    assert failures == []


@pytest.mark.parametrize(("method", "route", "body", "status"), [
    ("POST", "/api/agents", {"name": "b", "agencyId": UNKNOWN_ID}, 404),
    ("POST", "/api/agents", {"name": "b", "houseId": UNKNOWN_ID}, 404),
    ("POST", "/api/agencies", {"name": "r", "houseId": UNKNOWN_ID}, 404),
    ("POST", "/api/agencies/{agency_id}/agents", {"agentId": UNKNOWN_ID}, 404),
    ("POST", "/api/agencies/{agency_id}/agents", {"username": "@nobody-at-all"}, 404),
    ("POST", "/api/agencies/{agency_id}/agents", {}, 400),
    ("POST", "/api/houses/join", {"code": "shi_not-a-real-code"}, 403),
    ("POST", "/api/auth/agent", {"agentToken": "shb_not-a-real-token"}, 401),
    ("POST", "/api/auth/login", {"username": "nobody-at-all", "password": "x" * 9}, 401),
    ("POST", "/api/auth/register", {"username": "a b", "password": "correct horse"}, 400),
    ("POST", "/api/auth/register", {"username": "okname", "password": "x" * 2000}, 400),
    ("POST", "/api/auth/tokens", {"name": ""}, 400),
    ("POST", "/api/auth/tokens", {"name": "ci", "expires": "soon"}, 400),
    ("POST", "/api/auth/tokens", {"name": "ci", "expires": "0d"}, 400),
    ("POST", "/api/houses", {"name": " "}, 400),
    ("POST", "/api/houses", {"name": "x" * 65}, 400),
    ("PATCH", "/api/houses/{house_id}", {"name": ""}, 400),
    ("PATCH", "/api/houses/{house_id}/members/{user_id}", {"role": "king"}, 400),
    ("POST", "/api/houses/{house_id}/invites", {"role": "owner"}, 400),
    ("POST", "/api/houses/{house_id}/invites", {"max_uses": 0}, 400),
    ("POST", "/api/houses/{house_id}/invites", {"max_uses": 10**30}, 400),
    ("POST", "/api/houses/{house_id}/invites", {"expires": "forever"}, 400),
    ("POST", "/api/agencies", {"name": "x" * 65}, 400),
    ("POST", "/api/agencies", {"name": "r", "charter": "x" * 4001}, 400),
    ("PATCH", "/api/agencies/{agency_id}", {"name": " "}, 400),
    ("POST", "/api/agencies/{agency_id}/messages", {"content": "  "}, 400),
    ("POST", "/api/agencies/{agency_id}/messages", {"content": "hi", "type": "shout"}, 400),
    ("POST", "/api/agencies/{agency_id}/messages", {"content": "hi", "metadata": "{bad"}, 400),
    ("POST", "/api/agencies/{agency_id}/messages", {"content": "/roll lots"}, 400),
    ("POST", "/api/agencies/{agency_id}/messages", {"content": "/no-such-command"}, 400),
    ("POST", "/api/agencies/{agency_id}/messages", {"content": '/echo "unclosed'}, 400),
    ("PATCH", "/api/messages/{message_id}", {"content": ""}, 400),
    ("PATCH", "/api/agents/{agent_id}/config", {"colour": "red"}, 400),
    ("PATCH", "/api/houses/{house_id}/settings", {"colour": "red"}, 400),
    ("PATCH", "/api/houses/{house_id}/settings", {"timezone": "Mars/Olympus"}, 400),
    ("PATCH", "/api/agents/{agent_id}/config", {"role": "x" * 20_001}, 400),
], ids=lambda v: v if isinstance(v, str) else None)
async def test_rules_a_client_can_fix_say_what_is_wrong(
    targets: Targets, method: str, route: str, body: Any, status: int
) -> None:
    r = await targets.owner.http.request(method, targets.fill(route), json=body)
    assert_error(r, status)


@pytest.mark.parametrize("params", [
    {"limit": "0"}, {"limit": "101"}, {"limit": "-1"}, {"limit": "abc"}, {"limit": "1.5"},
    {"limit": ""}, {"after_seq": "-1"}, {"after_seq": "abc"}, {"after_seq": str(10**30)},
    {"after_seq": str(2**63)}, {"before": "not-an-id-or-time"}, {"before": UNKNOWN_ID},
    {"before": "2024-01-01T00:00:00"},
], ids=lambda p: "&".join(f"{k}={v[:12]}" for k, v in p.items()))
async def test_bad_history_queries_are_400(targets: Targets, params: dict[str, str]) -> None:
    r = await targets.owner.get(targets.fill("/api/agencies/{agency_id}/messages"), params=params)
    assert_error(r, 400)


async def test_query_parameters_never_cause_a_500(targets: Targets) -> None:
    spec = await openapi(targets.server)
    failures = []
    for method, route, op in routes(spec):
        for param in op.get("parameters", ()):
            if param["in"] != "query":
                continue
            for value in ("abc", "-1", "0", "1e999", str(10**30), "\x00", "%", "x" * 5000):
                r = await targets.owner.http.request(method, targets.fill(route),
                                                     params={param["name"]: value})
                if r.status_code >= 400:
                    try:  # 403: a hook receiver's `room` outside the hook's rooms
                        assert_error(r, 400, 403, 404)
                    except AssertionError as exc:
                        failures.append(str(exc))
    assert failures == []


async def test_missing_or_bad_credentials_are_401_everywhere(targets: Targets) -> None:
    spec = await openapi(targets.server)
    anon = targets.server.http()
    for method, route, _ in routes(spec):
        if (method, route) in PUBLIC_ROUTES:
            continue
        for headers in ({}, {"Authorization": "Bearer shs_not-a-token"},
                        {"Authorization": "Bearer"}, {"Authorization": "Basic dXNlcjpwYXNz"}):
            r = await anon.request(method, targets.fill(route), headers=headers)
            assert_error(r, 401)


async def test_unknown_endpoints_and_methods(targets: Targets) -> None:
    r = await targets.owner.get("/api/nothing-here")
    assert assert_error(r, 404) == "no such endpoint"
    r = await targets.owner.http.put("/api/houses")
    assert_error(r, 405)


async def test_text_with_nul_characters_is_refused_not_stored(targets: Targets) -> None:
    for method, route, body in [
        ("POST", "/api/agencies/{agency_id}/messages", {"content": "a\x00b"}),
        ("POST", "/api/agencies/{agency_id}/messages",
         {"content": "ok", "metadata": {"k": ["\x00"]}}),
        ("PATCH", "/api/messages/{message_id}", {"content": "a\x00b"}),
        ("POST", "/api/agencies", {"name": "a\x00b", "houseId": "{house_id}"}),
        ("PATCH", "/api/houses/{house_id}", {"description": "a\x00b"}),
        ("POST", "/api/auth/tokens", {"name": "a\x00b"}),
        ("POST", "/api/auth/register", {"username": unique(), "password": "correct horse",
                                        "displayName": "a\x00b"}),
        ("PATCH", "/api/agents/{agent_id}/config", {"personality": "a\x00b"}),
    ]:
        r = await targets.owner.http.request(method, targets.fill(route), json=targets.body(body))
        assert_error(r, 400)


async def test_oversize_content_and_metadata_are_413_with_the_limit(targets: Targets) -> None:
    limits = targets.server.shoal.settings
    room = targets.fill("/api/agencies/{agency_id}/messages")
    edit = targets.fill("/api/messages/{message_id}")
    too_long = "x" * (limits.max_content_chars + 1)
    too_big = {"blob": "y" * limits.max_metadata_bytes}
    size = len(json.dumps(too_big, separators=(",", ":")))
    content_error = (f"content is {len(too_long)} characters; "
                     f"the limit is {limits.max_content_chars}")
    metadata_error = f"metadata is {size} bytes; the limit is {limits.max_metadata_bytes}"
    for method, url in (("POST", room), ("PATCH", edit)):
        r = await targets.owner.http.request(method, url, json={"content": too_long})
        assert assert_error(r, 413) == content_error
        r = await targets.owner.http.request(method, url,
                                             json={"content": "ok", "metadata": too_big})
        assert assert_error(r, 413) == metadata_error
    history = (await targets.owner.get(room)).json()
    assert all(len(m["content"]) <= limits.max_content_chars for m in history)
    assert [m["content"] for m in history if m["id"] == targets.values["message_id"]] == ["first"]

    sock = await targets.owner.socket()
    ack = await sock.call("send-message", {"agencyId": targets.values["agency_id"],
                                           "content": too_long})
    assert ack == {"ok": False, "error": content_error}
    ack = await sock.call("send-message", {"agencyId": targets.values["agency_id"],
                                           "content": "ok", "metadata": too_big})
    assert ack == {"ok": False, "error": metadata_error}
    await sock.close()


def socket_cases(targets: Targets) -> list[tuple[str, Any]]:
    room, message = targets.values["agency_id"], targets.values["message_id"]
    cases: list[tuple[str, Any]] = []
    for event in ("join-agency", "leave-agency", "send-message", "edit-message",
                  "delete-message", "agent-thinking", *RUN_EVENTS):
        cases += [(event, "text"), (event, [1, 2]), (event, 7), (event, {"agencyId": 7}),
                  (event, {"agencyId": ["x"]}), (event, {"messageId": {"x": 1}})]
    for bad_room in (UNKNOWN_ID, "x" * 300, "\x00", ""):
        cases += [("join-agency", {"agencyId": bad_room}),
                  ("send-message", {"agencyId": bad_room, "content": "hi"}),
                  ("agent-thinking", {"agencyId": bad_room})]
    for bad_message in (UNKNOWN_ID, "x" * 300, "\x00"):
        cases += [("edit-message", {"messageId": bad_message, "content": "hi"}),
                  ("delete-message", {"messageId": bad_message})]
    run = targets.values["run_id"]
    for bad_run in (UNKNOWN_ID, "x" * 300, "\x00", ""):
        cases += [(event, {"runId": bad_run}) for event in RUN_EVENTS]
    cases += [
        ("agent-run-start", {"agencyId": room, "runId": "a b"}),
        ("agent-run-permission-decision", {"runId": run, "permissionId": "p1",
                                           "decision": "maybe"}),
        ("agent-run-interrupt", {"runId": run, "action": "pause"}),
        ("agent-run-interrupt", {"runId": run, "action": "adjust"}),
        ("agent-run-events", {"runId": run, "afterSeq": -1}),
        ("agent-run-events", {"runId": run, "afterSeq": "3"}),
        ("join-agency", {"agencyId": room, "lastSeq": -1}),
        ("join-agency", {"agencyId": room, "lastSeq": "3"}),
        ("join-agency", {"agencyId": room, "lastSeq": 10**30}),
        ("join-agency", {"agencyId": room, "lastSeq": 2**63}),
        ("send-message", {"agencyId": room}),
        ("send-message", {"agencyId": room, "content": {"text": "hi"}}),
        ("send-message", {"agencyId": room, "content": "hi", "type": 5}),
        ("send-message", {"agencyId": room, "content": "hi", "metadata": [1]}),
        ("send-message", {"agencyId": room, "content": "a\x00b"}),
        ("send-message", {"agencyId": room, "content": "/roll lots", "silent": False}),
        ("edit-message", {"messageId": message}),
        ("edit-message", {"messageId": message, "content": "ok", "metadata": "[1"}),
        ("agent-thinking", {"agencyId": room, "status": 5}),
        ("agent-thinking", {"agencyId": room, "status": "x" * 201}),
    ]
    return cases


async def test_malformed_socket_payloads_are_refused_not_crashed(targets: Targets) -> None:
    sock = await targets.owner.socket()
    failures = []
    for event, payload in socket_cases(targets):
        ack = await sock.call(event, payload)
        if not (isinstance(ack, dict) and ack.get("ok") is False
                and isinstance(ack.get("error"), str) and not LEAK.search(ack["error"])
                and not PYDANTIC_WORDING.search(ack["error"])):
            failures.append(f"{event} {str(payload)[:60]}: {ack}")
    assert failures == []
    assert "message" not in {name for name, _ in sock.events}
    await sock.close()
