"""Hybrid search through the memory tools: words and meaning, min_score and max_results, on
SQLite and PostgreSQL, with the offline embedder (and the fake provider's embeddings)."""

from __future__ import annotations

import re

import pytest

from shoal.llm import Catalog, ChatMessage, KeyRing, LLMConfig, ModelRouter, ProviderConfig
from shoal.llm.fakeserver import FakeLLMServer
from shoal.runtime.sessions import append_turns, open_session, session_key
from tests.test_memory.conftest import World

NOISE = [
    "I had pizza with extra cheese for lunch",
    "The cat sleeps on the warm windowsill",
    "Quarterly budget spreadsheets need two signatures",
    "Remember to water the office plants on Monday",
    "The printer on floor three is out of toner",
    "Our hiking trip goes to the mountains in June",
    "Alice prefers green tea to coffee",
]
EXACT = "The staging database password rotates monthly"
PARAPHRASE = "Redeployment happens every Thursday evening"


def found(answer: str) -> list[str]:
    """The texts of the hits, best first."""
    return [re.sub(r"^- .*? score [0-9.]+: ", "", line) for line in answer.splitlines()
            if line.startswith("- ")]


def scores(answer: str) -> list[float]:
    return [float(s) for s in re.findall(r" score ([0-9.]+):", answer)]


async def seed(world: World) -> None:
    for text in [*NOISE[:4], EXACT, *NOISE[4:]]:
        await world.say(world.public, text)
    saved = await world.tool("memory_save", world.public, text=PARAPHRASE, tags=["ops"])
    assert saved.startswith("Saved note ")
    await world.indexed()


async def test_an_exact_match_and_a_paraphrase_rank_above_noise(world: World) -> None:
    await seed(world)
    exact = found(await world.tool("memory_search", world.public,
                                   query="staging database password", min_score=0))
    assert exact[0] == EXACT
    assert len(exact) >= 3  # noise came back too at min_score 0, and ranked below
    # No word of the query is in the note ("redeploy" is not "deploy" to the keyword index);
    # only the vectors connect them.
    meaning = found(await world.tool("memory_search", world.public, query="when do we deploy",
                                     min_score=0))
    assert meaning[0] == PARAPHRASE
    assert set(meaning[1:]) <= set(NOISE) | {EXACT}


async def test_min_score_and_max_results_hold(world: World) -> None:
    await seed(world)
    everything = await world.tool("memory_search", world.public, query="deploy staging",
                                  min_score=0, max_results=50)
    assert len(found(everything)) == 9  # the 8 messages it has vectors for, and the note
    top = await world.tool("memory_search", world.public, query="deploy staging",
                           min_score=0, max_results=2)
    assert found(top) == found(everything)[:2]
    floor = await world.tool("memory_search", world.public, query="when do we deploy")
    assert found(floor) == [PARAPHRASE]  # the default floor keeps the noise out
    assert all(s >= 0.12 for s in scores(floor))
    strict = await world.tool("memory_search", world.public, query="when do we deploy",
                              min_score=0.99)
    assert found(strict) == [] and "Nothing in memory matches" in strict


async def test_a_new_message_is_found_by_keyword_at_once(world: World) -> None:
    await world.say(world.public, "The zebra crossing on Elm street is repainted")
    # No wait for the indexer: the keyword index is written with the message.
    answer = await world.tool("memory_search", world.public, query="zebra crossing")
    assert found(answer)[0] == "The zebra crossing on Elm street is repainted"


async def test_sources_pick_notes_or_history(world: World) -> None:
    await seed(world)
    notes_only = found(await world.tool("memory_search", world.public, query="thursday deploy",
                                        sources=["memory"], min_score=0))
    assert notes_only == [PARAPHRASE]
    history_only = found(await world.tool("memory_search", world.public,
                                          query="staging password", sources=["rooms"]))
    assert PARAPHRASE not in history_only and history_only[0] == EXACT
    # The agent's own sessions in this room, and only this room's.
    db = world.server.shoal.db
    for room_id, said in ((world.public, "I noted that the staging password rotates weekly."),
                          (world.private, "The staging password of the private room is x.")):
        kept = await open_session(db, world.bot_id, world.house.id, room_id,
                                  session_key("room", room_id))
        await append_turns(db, kept.id, [ChatMessage("assistant", said)])
    sessions = await world.tool("memory_search", world.public, query="staging password",
                                sources=["sessions"])
    assert found(sessions) == ["I noted that the staging password rotates weekly."]
    assert "of your session (assistant," in sessions
    both = found(await world.tool("memory_search", world.public, query="staging password",
                                  sources=["sessions", "rooms"]))
    assert set(both) >= {EXACT, "I noted that the staging password rotates weekly."}


async def test_bad_arguments_are_explained(world: World) -> None:
    from shoal.tools.base import ToolError
    for arguments, says in (({"query": ""}, "needs a query"),
                            ({"query": "x", "max_results": 0}, "between 1 and 50"),
                            ({"query": "x", "min_score": 2}, "between 0 and 1"),
                            ({"query": "x", "sources": ["web"]}, "sources must be")):
        with pytest.raises(ToolError, match=says):
            await world.tool("memory_search", world.public, **arguments)
    with pytest.raises(ToolError, match="scope must be"):
        await world.tool("memory_save", world.public, text="x", scope="everyone")


async def test_an_agent_keeps_at_most_its_limit_of_notes(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from shoal.tools.base import ToolError
    settings = world.server.shoal.settings.memory
    monkeypatch.setattr(settings, "max_notes_per_agent", 2)
    for i in range(2):
        await world.tool("memory_save", world.public, text=f"fact {i}")
    with pytest.raises(ToolError, match="already keep 2 notes"):
        await world.tool("memory_save", world.public, text="one too many")
    with pytest.raises(ToolError, match="longer than 400"):
        await world.tool("memory_search", world.public, query="x" * 401)


async def test_get_and_forget_a_note(world: World) -> None:
    saved = await world.tool("memory_save", world.public, text="Bob owns the billing service",
                             tags=["owners"], scope="room")
    note_id = saved.split()[2]
    got = await world.tool("memory_get", world.public, id=note_id)
    assert "Bob owns the billing service" in got and "owners" in got
    assert "Forgot note" in await world.tool("memory_forget", world.public, id=note_id)
    from shoal.tools.base import ToolError
    with pytest.raises(ToolError, match="no note"):
        await world.tool("memory_get", world.public, id=note_id)
    answer = await world.tool("memory_search", world.public, query="billing owner")
    assert "Bob owns" not in answer


async def test_the_fake_providers_embeddings_serve_search(world: World) -> None:
    """The house's embedding model is a provider's: vectors come through the model layer."""
    shoal = world.server.shoal
    async with FakeLLMServer() as fake:
        catalog = Catalog(LLMConfig(providers={"openai": ProviderConfig(
            kind="openai", base_url=fake.openai_base_url, api_key_env=["OPENAI_API_KEY"])}),
            env={})
        saved = shoal.models
        shoal.models = ModelRouter(catalog, KeyRing(env={"OPENAI_API_KEY": "sk-test"}))
        try:
            r = await world.house.owner.patch(
                f"/api/houses/{world.house.id}/settings",
                {"memory": {"embedding_model": "openai/text-embedding-3-small"}})
            assert r.status_code == 200, r.text
            await world.say(world.public, PARAPHRASE)
            await world.indexed()
            answer = await world.tool("memory_search", world.public, query="when do we deploy")
            assert found(answer) == [PARAPHRASE], answer
            asked = [q for q in fake.requests if q.wire == "openai-embeddings"]
            assert asked and all(q.model == "text-embedding-3-small" for q in asked)
            assert any(q.body["input"] == ["when do we deploy"] for q in asked)
        finally:
            shoal.models = saved
