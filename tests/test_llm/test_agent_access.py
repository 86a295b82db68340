"""An agent's own provider key and Ollama endpoint, through the real SDK clients against the
fake provider: its key is the one sent, its cooldown is its own, its endpoint is guarded."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from shoal.llm import (
    AgentAccess,
    AllModelsFailed,
    ChatMessage,
    ChatRequest,
    KeyRing,
    ManualClock,
    ModelRouter,
    ProfileBook,
    ollama_base_url,
)
from shoal.llm.fakeserver import FakeLLMServer, Fault, Reply
from shoal.net import OutboundPolicy
from tests.test_llm.conftest import fake_catalog

AGENT_KEY = "sk-agent-OWN-KEY-4242"
HOUSE_KEYS = {"OPENAI_API_KEY": "sk-house", "ANTHROPIC_API_KEY": "sk-house-ant",
              "OLLAMA_API_KEY": "sk-server-ollama"}


def ask() -> ChatRequest:
    return ChatRequest([ChatMessage("user", "hello")])


def router(fake: FakeLLMServer, clock: ManualClock, **kwargs: Any) -> ModelRouter:
    return ModelRouter(fake_catalog(fake), KeyRing(env=HOUSE_KEYS), ProfileBook(clock), **kwargs)


@pytest.mark.parametrize(("provider", "model"), [("openai", "openai/fake-gpt"),
                                                 ("anthropic", "anthropic/fake-claude")])
async def test_the_agents_own_key_is_the_one_sent(
    fake: FakeLLMServer, clock: ManualClock, provider: str, model: str,
) -> None:
    models = router(fake, clock)
    agent = AgentAccess("bot-1", provider, AGENT_KEY)
    fake.script(Reply("mine"), Reply("house"))
    answer = await models.complete(ask(), [model], agent=agent)
    assert answer.text == "mine" and fake.requests[-1].api_key == AGENT_KEY
    await models.complete(ask(), [model])  # another agent, no key of its own
    assert fake.requests[-1].api_key != AGENT_KEY
    assert AGENT_KEY not in repr(agent)


async def test_the_agents_key_cools_down_alone_and_never_reaches_logs(
    fake: FakeLLMServer, clock: ManualClock, caplog: pytest.LogCaptureFixture,
) -> None:
    models = router(fake, clock)
    agent = AgentAccess("bot-1", "openai", AGENT_KEY)
    fake.fail_key(AGENT_KEY, Fault.http(401))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AllModelsFailed) as failed:
        await models.complete(ask(), ["openai/fake-gpt"], agent=agent)
    # The house's key was not tried in its place: the agent pays for its own calls.
    assert {r.api_key for r in fake.requests} == {AGENT_KEY}
    assert AGENT_KEY not in str(failed.value) and AGENT_KEY not in caplog.text
    fake.script(Reply("still fine"))
    answer = await models.complete(ask(), ["openai/fake-gpt"])
    assert answer.text == "still fine" and fake.requests[-1].api_key == "sk-house"
    with pytest.raises(AllModelsFailed, match="cooling down"):
        await models.complete(ask(), ["openai/fake-gpt"], agent=agent)


async def test_an_agents_key_is_only_for_its_provider(
    fake: FakeLLMServer, clock: ManualClock,
) -> None:
    models = router(fake, clock)
    fake.script(Reply("house pays"))
    await models.complete(ask(), ["anthropic/fake-claude"],
                          agent=AgentAccess("bot-1", "openai", AGENT_KEY))
    assert fake.requests[-1].api_key == "sk-house-ant"


async def test_ollama_models_go_to_the_agents_endpoint_without_the_servers_key(
    fake: FakeLLMServer, clock: ManualClock,
) -> None:
    # The fake server is on loopback: the operator allows it here, as a LAN Ollama would be.
    models = router(fake, clock, outbound=OutboundPolicy(allow_private=True))
    endpoint = fake.openai_base_url.removesuffix("/v1")
    fake.script(Reply("from the agent's ollama"))
    answer = await models.complete(ask(), ["ollama/llama3.2"],
                                   agent=AgentAccess("bot-1", ollama_endpoint=endpoint))
    assert answer.text == "from the agent's ollama"
    assert fake.requests[-1].model == "llama3.2"
    assert fake.requests[-1].api_key != "sk-server-ollama"


async def test_an_agents_endpoint_on_an_internal_address_is_refused_by_the_guard(
    fake: FakeLLMServer, clock: ManualClock,
) -> None:
    models = router(fake, clock)  # the default policy: public addresses only
    with pytest.raises(AllModelsFailed, match="internal address") as failed:
        await models.complete(ask(), ["ollama/llama3.2"], agent=AgentAccess(
            "bot-1", ollama_endpoint=fake.openai_base_url))
    assert fake.requests == []
    assert "ollama/llama3.2" in str(failed.value)


@pytest.mark.parametrize(("endpoint", "base"), [
    ("http://gpu.lan:11434", "http://gpu.lan:11434/v1"),
    ("http://gpu.lan:11434/", "http://gpu.lan:11434/v1"),
    ("https://ollama.example/v1", "https://ollama.example/v1"),
    ("https://ollama.example/proxy", "https://ollama.example/proxy/v1"),
])
def test_an_ollama_endpoint_means_its_openai_compatible_path(endpoint: str, base: str) -> None:
    assert ollama_base_url(endpoint) == base
