"""Arbitrary JSON text thrown at the endpoints that store what they are sent: whatever
arrives (lone surrogates, NUL, control characters, deep nesting, broken escapes), the answer
is 2xx or 4xx and the room stays readable."""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support import House, ShoalServer, make_house, unique

# Escapes JSON allows but UTF-8 cannot carry, and characters stores refuse or mangle.
ESCAPES = [
    "\\udfff",
    "\\ud800",
    "\\ud83d",
    "\\ude00",
    "\\u0000",
    "\\u0001",
    "\\u001f",
    "\\ud83d\\ude00",
    '\\"',
    "\\\\",
    "\\n",
    "\\u",
    "\\x",
]
RAW = ["\x00", "\x01", "\x7f", "\u2028", "\ufeff", "é", "😀", "\\"]


def json_text() -> st.SearchStrategy[str]:
    """The inside of a JSON string literal: plain text, escapes, raw control characters."""
    pieces = st.one_of(st.sampled_from(ESCAPES), st.sampled_from(RAW), st.text(max_size=5))
    return st.lists(pieces, max_size=6).map("".join)


def deep_nesting() -> st.SearchStrategy[str]:
    return st.tuples(st.integers(1, 3000), st.sampled_from(["[", '{"a":'])).map(
        lambda pair: pair[1] * pair[0] + '"x"' + ("]" if pair[1] == "[" else "}") * pair[0]
    )


def json_values() -> st.SearchStrategy[str]:
    """A JSON value as text, its strings drawn from `json_text`, or a nested one."""
    string = json_text().map(lambda text: f'"{text}"')
    scalar = st.one_of(string, st.sampled_from(["1", "null", "true", "1e999", "-0"]))
    nested = st.recursive(
        scalar,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3).map(lambda items: "[" + ",".join(items) + "]"),
            st.lists(st.tuples(string, inner), max_size=3).map(
                lambda items: "{" + ",".join(f"{k}:{v}" for k, v in items) + "}"
            ),
        ),
        max_leaves=6,
    )
    return st.one_of(nested, deep_nesting())


def bodies(*fields: str) -> st.SearchStrategy[bytes]:
    """A request body: an object with these fields set to fuzzed values, or raw junk."""
    objects = st.lists(
        st.tuples(st.sampled_from(fields), json_values()), min_size=1, max_size=3
    ).map(lambda items: "{" + ",".join(f'"{k}":{v}' for k, v in items) + "}")
    raw = st.binary(max_size=40)
    return st.one_of(objects.map(lambda text: text.encode("utf-8", "surrogatepass")), raw)


@dataclass
class Targets:
    house: House
    hook: httpx.AsyncClient
    agent_id: str


@pytest.fixture
async def targets(shoal_server: ShoalServer) -> Targets:
    house = await make_house(shoal_server)
    r = await house.owner.post(
        f"/api/houses/{house.id}/hooks", {"name": unique("Hook "), "rooms": [house.room_id]}
    )
    assert r.status_code == 201, r.text
    hook = shoal_server.http()
    hook.headers["X-Crustocean-Hook-Key"] = r.json()["key"]
    r = await house.member.post("/api/agents", {"name": unique("bot"), "houseId": house.id})
    assert r.status_code == 201, r.text
    return Targets(house, hook, r.json()["agent"]["id"])


FUZZ = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
HEADERS = {"content-type": "application/json"}


async def assert_room_readable(targets: Targets) -> None:
    r = await targets.house.member.get(f"/api/agencies/{targets.house.room_id}/messages")
    assert r.status_code == 200, r.text
    json.dumps(r.json(), ensure_ascii=False).encode("utf-8")


@FUZZ
@given(body=bodies("content", "metadata", "type"))
async def test_posting_fuzzed_messages(targets: Targets, body: bytes) -> None:
    r = await targets.house.member.http.post(
        f"/api/agencies/{targets.house.room_id}/messages", content=body, headers=HEADERS
    )
    assert r.status_code < 500, (body, r.text)
    await assert_room_readable(targets)


@FUZZ
@given(body=bodies("content", "metadata", "agencyId"))
async def test_posting_fuzzed_hook_messages(targets: Targets, body: bytes) -> None:
    r = await targets.hook.post("/api/hooks/messages", content=body, headers=HEADERS)
    assert r.status_code < 500, (body, r.text)
    await assert_room_readable(targets)


@FUZZ
@given(body=bodies("personality", "tools", "model", "trigger_whitelist", "description"))
async def test_patching_fuzzed_agent_configs(targets: Targets, body: bytes) -> None:
    route = f"/api/agents/{targets.agent_id}/config"
    r = await targets.house.member.http.patch(route, content=body, headers=HEADERS)
    assert r.status_code < 500, (body, r.text)
    r = await targets.house.member.get(route)
    assert r.status_code == 200, r.text
    await assert_room_readable(targets)
