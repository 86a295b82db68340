"""Embeddings through the model layer: the real OpenAI SDK against the fake provider, the
fallback chain and key cooldowns as for chat, and the offline embedder."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.llm import OFFLINE_EMBED_MODEL, AllModelsFailed, embed_texts, offline_embedding
from shoal.llm.fakeserver import FakeLLMServer, Fault


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


async def test_openai_embeddings_come_back_in_order(make_router: Any,
                                                    fake: FakeLLMServer) -> None:
    router = make_router()
    texts = ["first text", "second one", "third"]
    answer = await embed_texts(router, texts, ["openai/text-embedding-3-small"])
    assert answer.model == "openai/text-embedding-3-small"
    assert answer.vectors == [pytest.approx(offline_embedding(t), abs=1e-6) for t in texts]
    [request] = [r for r in fake.requests if r.wire == "openai-embeddings"]
    assert request.body["input"] == texts and request.model == "text-embedding-3-small"


async def test_gemini_embeddings_through_google_genai(make_router: Any,
                                                      fake: FakeLLMServer) -> None:
    answer = await embed_texts(make_router(), ["one", "two"], ["google/text-embedding-004"])
    assert answer.model == "google/text-embedding-004"
    assert answer.vectors == [pytest.approx(offline_embedding(t), abs=1e-6)
                              for t in ("one", "two")]
    [request] = [r for r in fake.requests if r.wire == "gemini-embeddings"]
    assert request.model == "text-embedding-004" and request.api_key == "ok-gemini"


async def test_a_failing_key_cools_down_and_the_chain_falls_back(make_router: Any,
                                                                 fake: FakeLLMServer) -> None:
    router = make_router()
    fake.fail_key("ok-openai", Fault.http(429, retry_after=30))
    chain = ["anthropic/claude-haiku-4-5", "openai/text-embedding-3-small", OFFLINE_EMBED_MODEL]
    answer = await embed_texts(router, ["hello"], chain)
    assert answer.model == OFFLINE_EMBED_MODEL
    # The rate-limited key is cooling down: the next call does not try it again.
    asked = len(fake.requests)
    await embed_texts(router, ["hello"], chain)
    assert len(fake.requests) == asked
    with pytest.raises(AllModelsFailed) as failed:
        await embed_texts(router, ["hello"], chain[:2])
    said = str(failed.value)
    assert "do not embed" in said and "cooling down" in said


def test_the_offline_embedder_matches_word_parts_not_noise() -> None:
    query = offline_embedding("when do we deploy")
    assert cosine(query, offline_embedding("Redeployment happens every Thursday")) > 0.25
    for noise in ("I had pizza with extra cheese", "The cat sleeps on the windowsill"):
        assert cosine(query, offline_embedding(noise)) < 0.15
    assert offline_embedding("") == [0.0] * len(query)
