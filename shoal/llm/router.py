"""The one entry point agents call: a request, a chain of models, events back, with auth
profiles rotated and models fallen back on according to how each attempt failed."""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING

from shoal import metrics
from shoal.crypto import mask
from shoal.jsontext import has_unusable_text, scrub, scrub_json
from shoal.llm.agentaccess import AgentAccess
from shoal.llm.catalog import Catalog, ModelInfo, ProviderKind
from shoal.llm.deadline import within_deadline
from shoal.llm.errors import (
    AllModelsFailed,
    AttemptRecord,
    BadModelRequest,
    ContextOverflow,
    FailureKind,
    ProviderFailure,
)
from shoal.llm.keys import KeyRing
from shoal.llm.profiles import AuthProfile, ProfileBook
from shoal.llm.providers.base import Credential, ProviderAdapter
from shoal.llm.refs import HouseModels, ResolvedModel, resolve_model
from shoal.llm.types import (
    AttemptStarted,
    ChatRequest,
    Completion,
    ReasoningDelta,
    StreamEvent,
    StreamReset,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)
from shoal.net.outbound import OutboundPolicy

if TYPE_CHECKING:
    from collections.abc import Mapping

log = logging.getLogger(__name__)

CONTEXT_WARN_TOKENS = 32_000
CONTEXT_MIN_TOKENS = 16_000

# Imported on first use: the SDKs take a while to import and most servers use one or two.
_ADAPTERS: dict[ProviderKind, str] = {
    "openai": "shoal.llm.providers.openai_chat:OpenAIChatAdapter",
    "anthropic": "shoal.llm.providers.anthropic_messages:AnthropicMessagesAdapter",
    "google": "shoal.llm.providers.google_genai:GoogleGenAIAdapter",
    "offline": "shoal.llm.offline:OfflineAdapter",
}
_NEXT_PROFILE = (FailureKind.AUTH, FailureKind.RATE_LIMIT, FailureKind.BILLING)


def check_context_window(info: ModelInfo) -> str | None:
    """Why a model is refused for its small context window, or None; warns below 32k."""
    if info.context_window < CONTEXT_MIN_TOKENS:
        return (
            f"context window of {info.context_window} tokens is below the "
            f"{CONTEXT_MIN_TOKENS} minimum"
        )
    if info.context_window < CONTEXT_WARN_TOKENS:
        log.warning(
            "model %s has a small context window (%d tokens)", info.ref, info.context_window
        )
    return None


class ModelRouter:
    """Streams completions through a fallback chain of models and their auth profiles."""

    def __init__(
        self,
        catalog: Catalog | None = None,
        keys: KeyRing | None = None,
        book: ProfileBook | None = None,
        *,
        deadline_seconds: float = 120.0,
        adapters: Mapping[ProviderKind, ProviderAdapter] | None = None,
        outbound: OutboundPolicy | None = None,
    ) -> None:
        self.catalog = catalog or Catalog()
        # Where agents' own endpoints may point (the operator's outbound policy).
        self.outbound = outbound or OutboundPolicy()
        self.keys = keys or KeyRing()
        self.book = book or ProfileBook()
        self.deadline_seconds = deadline_seconds
        self._adapters: dict[ProviderKind, ProviderAdapter] = dict(adapters or {})

    def adapter(self, kind: ProviderKind) -> ProviderAdapter:
        """The adapter for a kind of provider, created on first use."""
        found = self._adapters.get(kind)
        if found is None:
            module, _, name = _ADAPTERS[kind].partition(":")
            found = self._adapters[kind] = getattr(importlib.import_module(module), name)()
        return found

    def resolve_chain(
        self, models: Sequence[str], house: HouseModels | None = None
    ) -> list[ResolvedModel]:
        """Resolve every reference first, so a bad one fails loudly before any call."""
        return [resolve_model(m, self.catalog, house) for m in models]

    async def stream(
        self,
        request: ChatRequest,
        models: Sequence[str],
        *,
        house: HouseModels | None = None,
        house_id: str | None = None,
        pinned_profile: str | None = None,
        deadline_seconds: float | None = None,
        agent: AgentAccess | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """Yield the answer of the first model and profile that can give one; with `agent`,
        its own key and endpoint take the place of the house's and server's for its provider.

        Raises ContextOverflow (compact and retry), BadModelRequest (no model would accept
        the request), or AllModelsFailed naming every attempt."""
        chain = self.resolve_chain(models, house)
        seconds = deadline_seconds or self.deadline_seconds
        attempts: list[AttemptRecord] = []
        for model in chain:
            if agent is not None:
                model = agent.route(model, self.outbound)
            name = str(model.ref)
            refusal = check_context_window(model.info)
            if refusal is not None:
                attempts.append(AttemptRecord(name, "-", refusal, 0.0))
                continue
            own = agent.profiles(model) if agent is not None else None
            profiles = self.book.order(
                own if own is not None else await self.keys.profiles(model.provider, house_id),
                pinned_profile,
            )
            if not profiles:
                attempts.append(
                    AttemptRecord(name, "-", _no_key_reason(model, pinned_profile), 0.0)
                )
                continue
            adapter = self.adapter(model.provider.kind)
            for profile in profiles:
                until = self.book.unavailable_until(profile.id)
                if until is not None and pinned_profile is None:
                    metrics.model_cooldowns.labels(model.provider.name, "skipped").inc()
                    wait = until - self.book.clock.now()
                    attempts.append(
                        AttemptRecord(name, profile.id, f"cooling down for {wait:.0f} s", 0.0)
                    )
                    continue
                self.book.mark_used(profile.id)
                yield AttemptStarted(name, profile.id)
                started = time.monotonic()
                produced = False
                provider = model.provider.name
                try:
                    credential = Credential(profile.id, profile.api_key)
                    events = adapter.stream(model, request, credential, seconds)
                    # aclosing: a caller that stops reading closes the HTTP stream now.
                    async with aclosing(within_deadline(events, seconds)) as guarded:
                        async for event in guarded:
                            produced = True
                            if isinstance(event, Usage):
                                _count_tokens(provider, name, event)
                            yield storable(event, name)
                except ProviderFailure as failure:
                    metrics.model_calls.labels(provider, name, str(failure.kind)).inc()
                    metrics.model_call_duration.labels(provider, name).observe(
                        time.monotonic() - started)
                    detail = _redact(failure.message, profile)
                    attempts.append(
                        AttemptRecord(
                            name,
                            profile.id,
                            f"{failure.kind}: {detail}",
                            time.monotonic() - started,
                        )
                    )
                    await self.book.mark_failure(
                        profile,
                        failure.kind,
                        model=name,
                        detail=detail,
                        retry_after=failure.retry_after,
                    )
                    if produced:
                        yield StreamReset(name, detail)
                    if failure.kind is FailureKind.CONTEXT_OVERFLOW:
                        raise ContextOverflow(f"{name}: {detail}", model=name) from None
                    if failure.kind is FailureKind.BAD_REQUEST:
                        raise BadModelRequest(f"{name} refused the request: {detail}") from None
                    metrics.model_fallbacks.labels(name, str(failure.kind)).inc()
                    if failure.kind in _NEXT_PROFILE:
                        metrics.model_cooldowns.labels(provider, "started").inc()
                        continue
                    break
                metrics.model_calls.labels(provider, name, "ok").inc()
                metrics.model_call_duration.labels(provider, name).observe(
                    time.monotonic() - started)
                await self.book.mark_success(profile.id)
                return
        raise AllModelsFailed(attempts)

    async def complete(
        self,
        request: ChatRequest,
        models: Sequence[str],
        *,
        house: HouseModels | None = None,
        house_id: str | None = None,
        pinned_profile: str | None = None,
        deadline_seconds: float | None = None,
        agent: AgentAccess | None = None,
    ) -> Completion:
        """The whole answer at once, through the same fallback chain as `stream`."""
        answer = Completion()
        async for event in self.stream(
            request,
            models,
            house=house,
            house_id=house_id,
            pinned_profile=pinned_profile,
            deadline_seconds=deadline_seconds,
            agent=agent,
        ):
            answer.add(event)
        return answer


def storable(event: StreamEvent, model: str) -> StreamEvent:
    """The event with text no store or client could take (lone surrogates, NUL) cleaned:
    U+FFFD for a surrogate, NUL dropped. A model's output is accepted, not refused."""
    if isinstance(event, TextDelta) and has_unusable_text(event.text):
        log.warning("model %s produced unusable text; it was cleaned", model)
        return TextDelta(scrub(event.text))
    if isinstance(event, ReasoningDelta) and has_unusable_text(event.text):
        return ReasoningDelta(scrub(event.text), event.signature)
    if isinstance(event, ToolCallEvent):
        call = event.call
        arguments = scrub_json(dict(call.arguments))
        if arguments != call.arguments or has_unusable_text(call.name + call.id):
            log.warning("model %s produced unusable text in a tool call; it was cleaned", model)
            return ToolCallEvent(ToolCall(scrub(call.id), scrub(call.name), arguments))
    return event


def _count_tokens(provider: str, model: str, usage: Usage) -> None:
    metrics.model_tokens.labels(provider, model, "input").inc(usage.input_tokens)
    metrics.model_tokens.labels(provider, model, "output").inc(usage.output_tokens)


def _no_key_reason(model: ResolvedModel, pinned: str | None) -> str:
    if pinned is not None:
        return f"no profile {pinned!r} for provider {model.provider.name}"
    hints = " or ".join(model.provider.key_env)
    where = f"set {hints} or run" if hints else "run"
    return f"no API key ({where} `shoal keys add {model.provider.name}`)"


def _redact(text: str, profile: AuthProfile) -> str:
    # Providers sometimes quote the key they refused; it must not reach logs or errors.
    if profile.api_key and profile.api_key in text:
        return text.replace(profile.api_key, mask(profile.api_key))
    return text
