"""An agent's own way to its models: the contract's `llm_provider`, `llm_api_key` and
`ollama_endpoint`. Calls to the agent's provider use its key alone (never a house's or the
server's), under an auth profile of its own, so its cooldowns are its own; Ollama models go to
its endpoint, through the outbound address guard, and never carry the server's keys there."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace

import httpx

from shoal.llm.profiles import AuthProfile
from shoal.llm.refs import ResolvedModel
from shoal.net.outbound import OutboundPolicy

OLLAMA = "ollama"


def ollama_base_url(endpoint: str) -> str:
    """The OpenAI-compatible base URL of an Ollama server: `http://host:11434` and
    `http://host:11434/v1` both mean `http://host:11434/v1`."""
    url = httpx.URL(endpoint.strip())
    path = url.path.rstrip("/")
    if not path.endswith("/v1"):
        path += "/v1"
    return str(url.copy_with(path=path, query=None, fragment=None))


@dataclass(frozen=True, slots=True)
class AgentAccess:
    """One agent's provider, key and Ollama endpoint. The key never appears in its repr."""

    agent_id: str
    provider: str | None = None
    api_key: str | None = field(default=None, repr=False)
    ollama_endpoint: str | None = None

    def route(self, model: ResolvedModel, guard: OutboundPolicy) -> ResolvedModel:
        """The model as this agent reaches it: its Ollama endpoint for Ollama models, every
        connection checked under `guard`; other models unchanged."""
        if self.ollama_endpoint is None or model.provider.name != OLLAMA:
            return model
        provider = replace(model.provider, base_url=ollama_base_url(self.ollama_endpoint))
        return replace(model, provider=provider, guard=guard)

    def profiles(self, model: ResolvedModel) -> list[AuthProfile] | None:
        """The agent's own profile for this model's provider, or None where the house's and
        server's keys apply. A model at the agent's own endpoint never gets those keys."""
        name = model.provider.name
        key = self.api_key if self.provider == name else None
        if key is None and model.guard is None:
            return None
        fingerprint = hashlib.sha256((key or "").encode()).hexdigest()[:12] if key else "keyless"
        profile_id = f"agent:{self.agent_id}:{name}:{fingerprint}"
        return [AuthProfile(profile_id, name, key, "agent", label="the agent's own key")]
