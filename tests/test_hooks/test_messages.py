"""POST and PATCH /api/hooks/messages: another system posts with the hook's key, the room sees
it live under the hook's name, and the agents it @mentions answer."""

from __future__ import annotations

import pytest

from shoal.auth.ratelimit import AttemptLimiter
from shoal.llm.offline import OFFLINE_NOTICE
from tests.support import ShoalServer, make_house, unique
from tests.test_dispatch.conftest import ScriptedRuntime, activations, heard, make_bot
from tests.test_hooks.conftest import history, keyed, make_hook


async def test_a_hook_message_wakes_the_agent_it_mentions(
    shoal_server: ShoalServer, scripted: ScriptedRuntime,
) -> None:
    house = await make_house(shoal_server)
    # Even a bot only admins may wake answers a hook: the house's admins made the hook.
    fixer = await make_bot(shoal_server, house, trigger_policy="closed")
    bystander = await make_bot(shoal_server, house)
    hook = await make_hook(house, name="Sentry")
    watcher = await house.member.socket()
    await watcher.join(house.room_id)

    content = f"@{fixer['handle']} [SentryError] TypeError: email of undefined — api/users.js:42"
    r = await keyed(shoal_server, hook["key"]).post("/api/hooks/messages", json={
        "agencyId": house.room_id, "content": content, "metadata": {"level": "error"}})
    assert r.status_code == 201, r.text
    posted = r.json()
    assert posted["content"] == content and posted["agency_id"] == house.room_id
    assert (posted["sender_id"], posted["sender_type"]) == ("system", "system")
    assert posted["sender_display_name"] == "Sentry"
    assert posted["metadata"] == {"level": "error", "hook": {"id": hook["id"], "name": "Sentry"}}
    assert posted["mentions"] == [fixer["id"]]
    [live] = await watcher.wait_for("message")
    assert live["id"] == posted["id"] and live["seq"] == posted["seq"]

    await shoal_server.shoal.worker.drain()
    [row] = await activations(shoal_server, fixer["id"])
    assert (row.trigger_kind, row.outcome, row.trigger_message_id) == ("hook", "replied",
                                                                      posted["id"])
    replies = [m["content"] for m in await history(house) if m["sender_id"] == fixer["id"]]
    assert replies == [heard(fixer["username"], content)]
    assert await activations(shoal_server, bystander["id"]) == []
    await watcher.close()


async def test_a_builtin_agent_on_the_offline_model_answers_a_hook(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    fixer = await make_bot(shoal_server, house, model={"primary": "offline"})
    hook = await make_hook(house, name="Sentry")
    content = f"@{fixer['handle']} [SentryError] TypeError: email of undefined"
    r = await keyed(shoal_server, hook["key"]).post("/api/hooks/messages", json={
        "agencyId": house.room_id, "content": content})
    assert r.status_code == 201, r.text

    await shoal_server.shoal.worker.drain()
    [row] = await activations(shoal_server, fixer["id"])
    assert (row.trigger_kind, row.outcome, row.model) == ("hook", "replied",
                                                         "offline/shoal-offline")
    [reply] = [m for m in await history(house) if m["sender_id"] == fixer["id"]]
    assert reply["content"].startswith(OFFLINE_NOTICE)
    assert "TypeError: email of undefined" in reply["content"]


async def test_the_room_is_named_by_id_or_slug_and_must_be_one_of_the_hooks(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    r = await house.owner.post("/api/agencies", {"name": unique("ops"), "houseId": house.id})
    ops = r.json()
    r = await house.owner.post("/api/agencies", {"name": unique("other"), "houseId": house.id})
    other = r.json()
    single = keyed(shoal_server, (await make_hook(house, [ops["id"]]))["key"])
    double = keyed(shoal_server, (await make_hook(house, [ops["slug"], house.room_id]))["key"])

    r = await single.post("/api/hooks/messages", json={"content": "deploy finished"})
    assert r.status_code == 201 and r.json()["agency_id"] == ops["id"], r.text
    r = await double.post("/api/hooks/messages", json={"agencyId": ops["slug"],
                                                       "content": "by slug"})
    assert r.status_code == 201 and r.json()["agency_id"] == ops["id"], r.text
    r = await double.post("/api/hooks/messages", json={"content": "where?"})
    assert r.status_code == 400 and f"#{ops['slug']}" in r.json()["error"]
    for room in (other["id"], other["slug"], "nowhere"):
        r = await single.post("/api/hooks/messages", json={"agencyId": room, "content": "x"})
        assert r.status_code == 403, r.text
        assert r.json() == {"error": "this hook does not post to that room"}
    assert [m["content"] for m in await history(house, other["id"])] == []
    assert [m["content"] for m in await history(house, ops["id"])] == ["deploy finished",
                                                                        "by slug"]


async def test_only_a_live_key_of_a_hook_is_accepted(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    hook = await make_hook(house)
    assert hook["key"].startswith("shk_")
    body = {"agencyId": house.room_id, "content": "ping"}
    anon = shoal_server.http()
    for headers, error in [
        ({}, "hook key required: send X-Crustocean-Hook-Key: <key>"),
        ({"X-Crustocean-Hook-Key": "shk_not-a-key"}, "invalid hook key"),
        ({"Authorization": f"Bearer {house.owner.token}"},
         "hook key required: send X-Crustocean-Hook-Key: <key>"),
    ]:
        r = await anon.post("/api/hooks/messages", json=body, headers=headers)
        assert (r.status_code, r.json()) == (401, {"error": error})
    for headers in ({"X-Shoal-Hook-Key": hook["key"]},
                    {"Authorization": f"Bearer {hook['key']}"}):
        r = await anon.post("/api/hooks/messages", json=body, headers=headers)
        assert r.status_code == 201, r.text

    base = f"/api/houses/{house.id}/hooks/{hook['id']}"
    r = await house.admin.post(f"{base}/rotate")
    assert r.status_code == 200, r.text
    new_key = r.json()["key"]
    assert new_key != hook["key"] and r.json()["rotated_at"] is not None
    r = await keyed(shoal_server, hook["key"]).post("/api/hooks/messages", json=body)
    assert (r.status_code, r.json()) == (401, {"error": "invalid hook key"})
    r = await keyed(shoal_server, new_key).post("/api/hooks/messages", json=body)
    assert r.status_code == 201, r.text

    assert (await house.admin.delete(base)).status_code == 200
    r = await keyed(shoal_server, new_key).post("/api/hooks/messages", json=body)
    assert (r.status_code, r.json()) == (401, {"error": "this hook has been revoked"})
    assert [m["content"] for m in await history(house)] == ["ping", "ping", "ping"]


async def test_a_hook_edits_only_the_messages_it_posted(shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    hook = await make_hook(house, name="CI")
    client = keyed(shoal_server, hook["key"])
    r = await client.post("/api/hooks/messages", json={
        "agencyId": house.room_id, "content": "build 41: running", "metadata": {"build": 41}})
    posted = r.json()
    watcher = await house.member.socket()
    await watcher.join(house.room_id)

    r = await client.patch(f"/api/hooks/messages/{posted['id']}",
                           json={"content": "build 41: passed", "metadata": {"build": 41,
                                                                            "ok": True}})
    assert r.status_code == 200, r.text
    assert r.json()["content"] == "build 41: passed" and r.json()["edited_at"] is not None
    # The hook's own mark stays: it is how Shoal knows who may edit the message.
    assert r.json()["metadata"] == {"build": 41, "ok": True,
                                    "hook": {"id": hook["id"], "name": "CI"}}
    [edited] = await watcher.wait_for("message-edited")
    assert (edited["messageId"], edited["content"]) == (posted["id"], "build 41: passed")
    r = await client.patch(f"/api/hooks/messages/{posted['id']}", json={"content": "again"})
    assert r.json()["metadata"]["ok"] is True  # no metadata given: it stays as it was

    other = keyed(shoal_server, (await make_hook(house))["key"])
    r = await other.patch(f"/api/hooks/messages/{posted['id']}", json={"content": "mine now"})
    assert (r.status_code, r.json()) == (403, {"error": "a hook may only edit the messages it "
                                                        "posted"})
    r = await house.member.post(f"/api/agencies/{house.room_id}/messages", {"content": "hi"})
    r = await client.patch(f"/api/hooks/messages/{r.json()['id']}", json={"content": "hijack"})
    assert r.status_code == 403
    # Nor may a person edit what a hook posted.
    r = await house.owner.patch(f"/api/messages/{posted['id']}", {"content": "owner's words"})
    assert r.status_code == 403
    assert [m["content"] for m in await history(house)] == ["again", "hi"]
    await watcher.close()

    # A hook moved to other rooms no longer edits what it posted in this one.
    r = await house.owner.post("/api/agencies", {"name": unique("ci"), "houseId": house.id})
    r = await house.owner.patch(f"/api/houses/{house.id}/hooks/{hook['id']}",
                                {"rooms": [r.json()["id"]]})
    assert r.status_code == 200, r.text
    r = await client.patch(f"/api/hooks/messages/{posted['id']}", json={"content": "late"})
    assert (r.status_code, r.json()) == (403, {"error": "this hook no longer posts to that "
                                                        "room"})


@pytest.mark.parametrize(("body", "status", "error"), [
    ({"content": "  "}, 400, "content must not be empty"),
    ({"content": 5}, 400, "content must be a string"),
    ({"content": "hi", "type": "shout"}, 400, "type must be one of chat, tool_result, action, "
                                              "system"),
    ({"content": "hi", "metadata": [1]}, 400, "metadata must be a JSON object"),
    ({"content": "x" * 20_001}, 413, "content is 20001 characters; the limit is 20000"),
])
async def test_bad_messages_are_refused_and_not_stored(
    shoal_server: ShoalServer, body: dict[str, object], status: int, error: str,
) -> None:
    house = await make_house(shoal_server)
    client = keyed(shoal_server, (await make_hook(house))["key"])
    r = await client.post("/api/hooks/messages", json=body)
    assert (r.status_code, r.json()) == (status, {"error": error})
    assert await history(house) == []


async def test_each_hook_posts_at_most_its_rate(shoal_server: ShoalServer) -> None:
    hooks = shoal_server.shoal.hooks
    saved = hooks.limiter, hooks.per_minute
    hooks.limiter, hooks.per_minute = AttemptLimiter(2), 2
    try:
        house = await make_house(shoal_server)
        flood = await make_hook(house, name="Flood")
        client = keyed(shoal_server, flood["key"])
        for n in range(2):
            r = await client.post("/api/hooks/messages", json={"content": f"alert {n}"})
            assert r.status_code == 201, r.text
        r = await client.post("/api/hooks/messages", json={"content": "alert 2"})
        assert r.status_code == 429
        first = (await history(house))[0]
        r = await client.patch(f"/api/hooks/messages/{first['id']}", json={"content": "edit"})
        assert r.status_code == 429  # edits count against the same rate
        assert r.json()["error"].startswith("hook 'Flood' may post 2 messages a minute; "
                                            "try again in ")
        assert int(r.headers["Retry-After"]) >= 1
        calm = keyed(shoal_server, (await make_hook(house))["key"])
        assert (await calm.post("/api/hooks/messages", json={"content": "ok"})).status_code == 201
    finally:
        hooks.limiter, hooks.per_minute = saved
    assert [m["content"] for m in await history(house)] == ["alert 0", "alert 1", "ok"]


async def test_only_shoal_marks_a_message_as_a_hooks_or_a_heartbeats(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    forged = {"hook": {"name": "GitHub"}, "heartbeat": True, "heartbeat_id": "x", "skill": "ci"}
    r = await house.member.post(f"/api/agencies/{house.room_id}/messages",
                                {"content": "deploy finished", "metadata": forged})
    assert r.status_code == 201, r.text
    assert r.json()["metadata"] == {"skill": "ci"}
    r = await house.member.patch(f"/api/messages/{r.json()['id']}",
                                 {"content": "deploy failed", "metadata": forged})
    assert r.status_code == 200, r.text
    assert r.json()["metadata"] == {"skill": "ci"}
    assert [m["metadata"] for m in await history(house)] == [{"skill": "ci"}]
