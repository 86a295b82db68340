"""Files on agents' turns: a webhook agent gets a message's files with signed links it can
read without a session; a builtin agent's image turn goes to a model that can see."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shoal.llm import Catalog, KeyRing, LLMConfig, ModelConfig, ModelRouter, ProviderConfig
from shoal.llm.fakeserver import FakeLLMServer, Reply
from shoal.runtime.images import MAX_IMAGES
from tests.receiver import receiver
from tests.support import ShoalServer
from tests.test_rooms.test_attachments import PNG, path_of, upload
from tests.test_runtime.conftest import Bench
from tests.test_runtime.test_webhook import answering, run, webhook_bot

VISION = "openai/fake-vision"


async def test_an_image_reaches_a_webhook_agent_with_a_working_link(bench: Bench) -> None:
    server = bench.server
    file = (await upload(bench.house.member, bench.room_id, PNG)).json()
    async with receiver(answering(200, {"content": "a fine dot"})) as hook:
        await webhook_bot(bench, hook.url)
        r = await bench.house.member.post(f"/api/agencies/{bench.room_id}/messages", {
            "content": "Scout, what is this?", "attachments": [file["id"]]})
        trigger = r.json()
        outcome = await run(bench, trigger)
        assert outcome.outcome == "replied"
        [call] = hook.requests
    sent = json.loads(call.body)
    [item] = sent["message"]["attachments"]
    assert item["id"] == file["id"] and item["content_type"] == "image/png"
    assert item["signed_url"].startswith(server.shoal.settings.base_url + "/api/attachments/")
    assert item["signed_url_expires"] > time.time()
    got = await server.http().get(path_of(item["signed_url"]))  # no session: the link alone
    assert got.status_code == 200 and got.content == PNG


@pytest.fixture
def seeing(fake_server: FakeLLMServer, shoal_server: ShoalServer) -> Iterator[FakeLLMServer]:
    """The fake provider, where `openai/fake-vision` can see images and `openai/fake-gpt`
    cannot."""
    fake_server.reset()
    catalog = Catalog(LLMConfig(
        providers={"openai": ProviderConfig(kind="openai", base_url=fake_server.openai_base_url,
                                            api_key_env=["OPENAI_API_KEY"])},
        models={VISION: ModelConfig(vision=True)}), env={})
    shoal = shoal_server.shoal
    saved = shoal.models
    shoal.models = ModelRouter(catalog, KeyRing(env={"OPENAI_API_KEY": "sk-test"}))
    yield fake_server
    shoal.models = saved


async def image_message(bench: Bench, text: str) -> dict[str, Any]:
    file = (await upload(bench.house.member, bench.room_id, PNG, name="chart.png")).json()
    r = await bench.house.member.post(f"/api/agencies/{bench.room_id}/messages",
                                      {"content": text, "attachments": [file["id"]]})
    assert r.status_code == 201, r.text
    return r.json()  # type: ignore[no-any-return]


def sent_images(body: dict[str, Any]) -> list[str]:
    return [part["image_url"]["url"] for m in body["messages"] if isinstance(m["content"], list)
            for part in m["content"] if part["type"] == "image_url"]


async def test_an_image_turn_goes_to_the_image_model_when_the_primary_cannot_see(
        bench: Bench, seeing: FakeLLMServer) -> None:
    r = await bench.house.owner.patch(f"/api/agents/{bench.bot_id}/config",
                                      {"image_model": {"primary": VISION, "fallbacks": []}})
    assert r.status_code == 200, r.text
    assert r.json()["config"]["image_model"] == {"primary": VISION, "fallbacks": []}
    seeing.script(Reply("A purple rectangle."), Reply("Hello."))
    trigger = await image_message(bench, "Scout, what is in this chart?")
    outcome = await bench.run(trigger)
    assert outcome.outcome == "replied" and outcome.model == VISION
    [request] = seeing.requests
    assert request.model == "fake-vision"
    assert sent_images(request.body) == [
        "data:image/png;base64," + base64.b64encode(PNG).decode()]
    [reply] = await bench.messages_after(trigger["seq"])
    assert reply["content"] == "A purple rectangle."
    # A turn without images stays with the agent's own model.
    plain = await bench.say("Scout, hello")
    await bench.run(plain)
    assert seeing.requests[1].model == "fake-gpt" and sent_images(seeing.requests[1].body) == []


async def test_a_seeing_primary_gets_the_image_itself(bench: Bench,
                                                      seeing: FakeLLMServer) -> None:
    await bench.configure(model={"primary": VISION, "fallbacks": []})
    seeing.script(Reply("A chart."))
    await bench.run(await image_message(bench, "Scout, look"))
    [request] = seeing.requests
    assert request.model == "fake-vision" and len(sent_images(request.body)) == 1


async def test_without_an_image_model_the_images_are_named_in_words(
        bench: Bench, seeing: FakeLLMServer) -> None:
    seeing.script(Reply("I cannot see it."))
    await bench.run(await image_message(bench, "Scout, look"))
    [request] = seeing.requests
    assert request.model == "fake-gpt" and sent_images(request.body) == []
    last = request.body["messages"][-1]["content"]
    assert last.endswith("[images attached: chart.png; your model cannot see images]")


def turns_with_images(body: dict[str, Any]) -> list[str]:
    """The text of each turn that shows an image."""
    return [next(p["text"] for p in m["content"] if p["type"] == "text")
            for m in body["messages"] if isinstance(m["content"], list)
            and any(p["type"] == "image_url" for p in m["content"])]


async def test_an_image_posted_just_before_the_question_reaches_the_model(
        bench: Bench, seeing: FakeLLMServer) -> None:
    await bench.configure(model={"primary": VISION, "fallbacks": []})
    seeing.script(Reply("A purple chart."), Reply("Still here."))
    await image_message(bench, "here is the chart")
    trigger = await bench.say("Scout, what does the chart above show?")
    await bench.run(trigger)
    [request] = seeing.requests
    assert len(sent_images(request.body)) == 1
    # On the turn of the message that carried it, not the question's.
    [shown] = turns_with_images(request.body)
    assert shown.endswith("here is the chart")
    # Once the agent has answered, that image is behind it: the next turn does not resend it.
    await bench.run(await bench.say("Scout, thanks"))
    assert sent_images(seeing.requests[1].body) == []


async def test_earlier_images_are_bounded_and_go_to_the_image_model(
        bench: Bench, seeing: FakeLLMServer) -> None:
    await bench.configure(model={"primary": "openai/fake-gpt", "fallbacks": []},
                          image_model={"primary": VISION, "fallbacks": []})
    seeing.script(Reply("Five charts."))
    for i in range(MAX_IMAGES + 1):
        await image_message(bench, f"chart {i}")
    trigger = await image_message(bench, "Scout, and this one?")
    await bench.run(trigger)
    [request] = seeing.requests
    assert request.model == "fake-vision"
    # The waking message's image first, then the newest before it, MAX_IMAGES in all.
    shown = turns_with_images(request.body)
    assert len(sent_images(request.body)) == MAX_IMAGES
    assert shown[-1].endswith("Scout, and this one?")
    assert [s[-7:] for s in shown[:-1]] == [f"chart {i}" for i in (2, 3, 4)]
