"""Known providers and models: context windows, built-in aliases, and configured additions."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from shoal.errors import InvalidInput
from shoal.validation import describe_errors

ProviderKind = Literal["openai", "anthropic", "google", "offline"]

DEFAULT_CONTEXT_TOKENS = 128_000
OFFLINE_MODEL = "offline/shoal-offline"


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    """How to reach one provider: which SDK speaks to it, where, and which env vars hold keys."""

    name: str
    kind: ProviderKind
    base_url: str | None = None
    key_env: tuple[str, ...] = ()
    needs_key: bool = True


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What Shoal knows about one model."""

    ref: str
    context_window: int = DEFAULT_CONTEXT_TOKENS
    aliases: tuple[str, ...] = ()
    cheap: bool = False  # its provider's cheapest model: for quick YES/NO questions
    vision: bool = False  # it takes images in user turns
    reasoning: bool = False  # it reasons natively, at a level (thinking) Shoal can set


BUILTIN_PROVIDERS = (
    ProviderSpec("openai", "openai", None, ("OPENAI_API_KEY",)),
    ProviderSpec("anthropic", "anthropic", None, ("ANTHROPIC_API_KEY",)),
    ProviderSpec("google", "google", None, ("GEMINI_API_KEY", "GOOGLE_API_KEY")),
    ProviderSpec("ollama", "openai", "http://127.0.0.1:11434/v1", ("OLLAMA_API_KEY",), False),
    ProviderSpec("openrouter", "openai", "https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",)),
    ProviderSpec("offline", "offline", None, (), False),
)

BUILTIN_MODELS = (
    ModelInfo("anthropic/claude-opus-4-5", 200_000, ("opus",), vision=True, reasoning=True),
    ModelInfo("anthropic/claude-sonnet-4-5", 200_000, ("sonnet",), vision=True, reasoning=True),
    ModelInfo("anthropic/claude-haiku-4-5", 200_000, ("haiku",), cheap=True, vision=True,
              reasoning=True),
    ModelInfo("openai/gpt-5", 400_000, ("gpt",), vision=True, reasoning=True),
    ModelInfo("openai/gpt-5-mini", 400_000, ("gpt-mini",), cheap=True, vision=True,
              reasoning=True),
    ModelInfo("google/gemini-2.5-pro", 1_048_576, ("gemini",), vision=True, reasoning=True),
    ModelInfo("google/gemini-2.5-flash", 1_048_576, ("gemini-flash",), cheap=True,
              vision=True, reasoning=True),
    ModelInfo(OFFLINE_MODEL, 128_000, ("offline",), cheap=True),
)

# The SDKs read these themselves; Shoal reads them so the same rule holds for every client.
BASE_URL_ENV = {
    "openai": "OPENAI_BASE_URL",
    "anthropic": "ANTHROPIC_BASE_URL",
    "google": "GOOGLE_GEMINI_BASE_URL",
}


class ProviderConfig(BaseModel):
    """A provider added or adjusted in configuration (`[llm.providers.NAME]`)."""

    kind: ProviderKind = "openai"
    base_url: str | None = None
    api_key_env: list[str] = Field(default_factory=list)
    needs_key: bool = True


class ModelConfig(BaseModel):
    """A model added or adjusted in configuration (`[llm.models."provider/model"]`)."""

    context_window: int | None = Field(None, ge=1)
    alias: str | None = None
    cheap: bool | None = None  # the provider's cheapest model (relevance questions, the demo)
    vision: bool | None = None  # it takes images (unknown models are taken not to)
    reasoning: bool | None = None  # it reasons at a settable level (unknown models: not)


class LLMConfig(BaseModel):
    """The `[llm]` configuration table: defaults, extra providers and models."""

    default_provider: str = "anthropic"
    primary: str = "offline"
    fallbacks: list[str] = Field(default_factory=list)
    relevance_model: str | None = None  # the cheap model ambient bots' relevance gate asks
    deadline_seconds: float = Field(120.0, gt=0)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    models: dict[str, ModelConfig] = Field(default_factory=dict)

    @classmethod
    def parse(cls, raw: Mapping[str, Any] | None) -> LLMConfig:
        """Validate the `[llm]` table, or explain what is wrong with it."""
        try:
            return cls.model_validate(dict(raw or {}))
        except ValidationError as exc:
            problems = describe_errors(exc.errors(), subject="the [llm] table", prefix="llm",
                                       limit=20)
            raise InvalidInput(f"invalid configuration: {problems}") from None


class Catalog:
    """Providers, models and aliases in effect for this server."""

    def __init__(
        self, config: LLMConfig | None = None, env: Mapping[str, str] | None = None
    ) -> None:
        config = config or LLMConfig()
        env = os.environ if env is None else env
        self.default_provider = config.default_provider
        self.providers: dict[str, ProviderSpec] = {}
        for spec in BUILTIN_PROVIDERS:
            url_env = BASE_URL_ENV.get(spec.name)
            if url_env and env.get(url_env):
                spec = replace(spec, base_url=env[url_env])
            self.providers[spec.name] = spec
        for name, pc in config.providers.items():
            known = self.providers.get(name)
            self.providers[name] = ProviderSpec(
                name=name,
                kind=pc.kind,
                base_url=pc.base_url or (known.base_url if known else None),
                key_env=tuple(pc.api_key_env) or (known.key_env if known else ()),
                needs_key=pc.needs_key,
            )
        self.models: dict[str, ModelInfo] = {m.ref: m for m in BUILTIN_MODELS}
        for ref, mc in config.models.items():
            known_model = self.models.get(ref, ModelInfo(ref))
            aliases = known_model.aliases + ((mc.alias,) if mc.alias else ())
            window = mc.context_window or known_model.context_window
            cheap = known_model.cheap if mc.cheap is None else mc.cheap
            vision = known_model.vision if mc.vision is None else mc.vision
            reasoning = known_model.reasoning if mc.reasoning is None else mc.reasoning
            self.models[ref] = ModelInfo(ref, window, aliases, cheap, vision, reasoning)
        self.aliases: dict[str, str] = {
            alias.lower(): m.ref for m in self.models.values() for alias in m.aliases
        }

    def provider(self, name: str) -> ProviderSpec | None:
        """The provider called `name`, if Shoal knows it."""
        return self.providers.get(name)

    def info(self, ref: str) -> ModelInfo:
        """What is known about a canonical `provider/model`; unknown models get defaults."""
        return self.models.get(ref) or ModelInfo(ref)

    def cheapest(self, provider: str) -> str | None:
        """The provider's cheapest known model (`cheap` in the catalog), if it names one."""
        return next((m.ref for m in self.models.values()
                     if m.cheap and m.ref.partition("/")[0] == provider), None)
