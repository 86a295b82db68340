"""Search for people: pages, highlighted snippets, a sender filter, matches by meaning, and
clear refusals."""

from __future__ import annotations

from tests.test_memory.conftest import World


async def test_results_come_newest_first_in_pages(world: World) -> None:
    sent = [await world.say(world.public, f"walrus report number {i}") for i in range(7)]
    await world.say(world.public, "nothing to see here")
    seen: list[str] = []
    before = None
    for _ in range(4):
        params = {"q": "walrus report", "limit": 3, **({"before": before} if before else {})}
        r = await world.house.guest.get("/api/search", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        seen.extend(x["messageId"] for x in page["results"] if x["match"] == "keyword")
        before = page["nextBefore"]
        if before is None:
            break
    assert seen == [m["id"] for m in reversed(sent)]


async def test_snippets_mark_the_words_and_results_say_where_they_are(world: World) -> None:
    long = ("Some preamble about the week. " * 12 + "Then the Walruses escaped the enclosure "
            "and nobody noticed until lunch.")
    message = await world.say(world.public, long)
    r = await world.house.member.get("/api/search", params={"q": "escaping enclosures"})
    hit = next(x for x in r.json()["results"] if x["messageId"] == message["id"])
    assert hit["roomId"] == world.public and hit["seq"] == message["seq"]
    marked = [hit["snippet"][a:b] for a, b in hit["highlights"]]
    assert marked == ["escaped", "enclosure"]
    assert hit["snippet"].startswith("…") and len(hit["snippet"]) < len(long)


async def test_from_keeps_to_one_sender(world: World) -> None:
    await world.say(world.public, "narwhal sighting by the member")
    r = await world.house.admin.post(f"/api/agencies/{world.public}/messages",
                                     {"content": "narwhal sighting by the admin"})
    assert r.status_code == 201
    me = await world.house.admin.get("/api/auth/me")
    handle = me.json().get("username") or me.json()["user"]["username"]
    r = await world.house.member.get("/api/search", params={"q": "narwhal", "from": handle})
    assert [x["content"] for x in r.json()["results"]] == ["narwhal sighting by the admin"]


async def test_the_first_page_adds_matches_by_meaning(world: World) -> None:
    await world.say(world.public, "Redeployment happens every Thursday evening")
    await world.indexed()
    r = await world.house.member.get("/api/search", params={"q": "deploy"})
    results = r.json()["results"]
    assert [(x["content"], x["match"]) for x in results] == [
        ("Redeployment happens every Thursday evening", "meaning")]


async def test_bad_searches_are_refused_with_a_reason(world: World) -> None:
    person = world.house.member
    for params, status, says in (({"q": "..."}, 400, "at least one word"),
                                 ({"q": "x", "before": "nope"}, 400, "before must be"),
                                 ({"q": "x", "roomId": "nope"}, 404, "room not found"),
                                 ({"q": "x", "limit": 0}, 400, "limit")):
        r = await person.get("/api/search", params=params)
        assert r.status_code == status, r.text
        assert says in r.json()["error"]
    assert (await world.server.http().get("/api/search", params={"q": "x"})).status_code == 401
