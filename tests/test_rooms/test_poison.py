"""One bad message never hurts anyone else: unencodable text is refused at the door, a
failing draft fails alone in its group commit, and a refused request keeps its connection."""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx

from tests.support import ShoalServer, make_house

SURROGATE_CONTENT = b'{"content": "bad \\udfff text"}'
SURROGATE_METADATA = b'{"content": "fine", "metadata": {"x": "\\udfff"}}'
JSON = {"content-type": "application/json"}


async def post_raw(http: httpx.AsyncClient, room_id: str, body: bytes) -> httpx.Response:
    return await http.post(f"/api/agencies/{room_id}/messages", content=body, headers=JSON)


async def test_surrogates_in_content_fail_alone_in_a_race_with_good_posts(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    good = [house.member.post(f"/api/agencies/{house.room_id}/messages",
                              {"content": f"good {n}"}) for n in range(300)]
    bad = [post_raw(house.admin.http, house.room_id, SURROGATE_CONTENT) for _ in range(100)]
    answers = await asyncio.gather(*good, *bad)
    assert Counter(r.status_code for r in answers[:300]) == {201: 300}
    assert Counter(r.status_code for r in answers[300:]) == {400: 100}
    assert all("content" in r.json()["error"] for r in answers[300:])
    seen = set()
    before = None
    while True:
        params = {"limit": 100, **({"before": before} if before else {})}
        r = await house.owner.get(f"/api/agencies/{house.room_id}/messages", params=params)
        assert r.status_code == 200, r.text
        page = r.json()
        if not page:
            break
        seen.update(m["content"] for m in page)
        before = page[-1]["id"]
    assert seen == {f"good {n}" for n in range(300)}


async def test_surrogates_in_metadata_are_refused_and_history_stays_readable(
        shoal_server: ShoalServer) -> None:
    house = await make_house(shoal_server)
    r = await post_raw(house.member.http, house.room_id, SURROGATE_METADATA)
    assert r.status_code == 400, r.text
    assert "metadata.x" in r.json()["error"]
    r = await house.member.get(f"/api/agencies/{house.room_id}/messages")
    assert r.status_code == 200, r.text
    assert r.json() == []
