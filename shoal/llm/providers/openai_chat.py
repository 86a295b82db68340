"""OpenAI Chat Completions through the `openai` SDK: OpenAI, Ollama, vLLM and other
compatible servers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, cast

import openai

from shoal.llm.errors import FailureKind, ProviderFailure
from shoal.llm.providers.base import (
    ClientCache,
    Credential,
    classify_status,
    error_message,
    parse_arguments,
)
from shoal.llm.thinking import thinking_for
from shoal.llm.types import (
    Finish,
    FinishReason,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    Usage,
)
from shoal.net.outbound import AddressRefused

if TYPE_CHECKING:
    from shoal.llm.refs import ResolvedModel
    from shoal.llm.types import ChatRequest, ProviderEvent

_FINISH: dict[str | None, FinishReason] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "content_filter",
}


class OpenAIChatAdapter:
    """Speaks Chat Completions; one SDK client per (base URL, key), reused across calls."""

    def __init__(self) -> None:
        # max_retries=0: the fallback layer decides what to retry and where. The SDK is typed
        # for httpx2's client and drives the guarded httpx one the same way (an Ollama endpoint).
        self._clients = ClientCache(lambda base_url, key, timeout, http: openai.AsyncOpenAI(
            api_key=key, base_url=base_url, max_retries=0, timeout=timeout,
            http_client=cast(Any, http)))

    async def stream(
        self, model: ResolvedModel, request: ChatRequest, credential: Credential, timeout: float
    ) -> AsyncIterator[ProviderEvent]:
        """Call the model and yield its answer as normalized events."""
        client = self._clients.get(model.provider.base_url, credential.api_key or "unused", timeout,
                                   model.guard)
        kwargs = _request_kwargs(model, request)
        try:
            if not request.stream:
                response = await client.chat.completions.create(**kwargs)
                for event in _whole_answer(response):
                    yield event
                return
            stream = await client.chat.completions.create(
                **kwargs, stream=True, stream_options={"include_usage": True}
            )
            try:
                async for event in _stream_events(stream):
                    yield event
            finally:
                await stream.close()
        except openai.APIStatusError as exc:
            message = error_message(exc.body, exc.message)
            raise classify_status(exc.status_code, message, exc.response.headers) from None
        except openai.APITimeoutError:
            raise ProviderFailure(FailureKind.TIMEOUT, "the provider timed out") from None
        except openai.APIConnectionError as exc:
            raise ProviderFailure(FailureKind.UNAVAILABLE, f"connection failed: {exc}") from None
        except AddressRefused as exc:  # an agent's own endpoint, refused by the outbound guard
            raise ProviderFailure(FailureKind.UNAVAILABLE, exc.message) from None
        except (openai.APIError, ValueError, KeyError) as exc:
            raise ProviderFailure(FailureKind.UNAVAILABLE, f"malformed answer: {exc}") from None

    async def embed(self, model: ResolvedModel, texts: Sequence[str], credential: Credential,
                    timeout: float) -> list[list[float]]:
        """One vector per text from the embeddings endpoint (OpenAI, Ollama, vLLM...)."""
        client = self._clients.get(model.provider.base_url, credential.api_key or "unused", timeout,
                                   model.guard)
        try:
            answer = await client.embeddings.create(model=model.ref.model, input=list(texts),
                                                    encoding_format="float")
        except openai.APIStatusError as exc:
            message = error_message(exc.body, exc.message)
            raise classify_status(exc.status_code, message, exc.response.headers) from None
        except openai.APITimeoutError:
            raise ProviderFailure(FailureKind.TIMEOUT, "the provider timed out") from None
        except openai.APIConnectionError as exc:
            raise ProviderFailure(FailureKind.UNAVAILABLE, f"connection failed: {exc}") from None
        except AddressRefused as exc:
            raise ProviderFailure(FailureKind.UNAVAILABLE, exc.message) from None
        except (openai.APIError, ValueError, KeyError) as exc:
            raise ProviderFailure(FailureKind.UNAVAILABLE, f"malformed answer: {exc}") from None
        ordered = sorted(answer.data, key=lambda d: d.index)
        return [list(d.embedding) for d in ordered]


def _request_kwargs(model: ResolvedModel, request: ChatRequest) -> dict[str, Any]:
    messages: list[dict[str, Any]] = []
    if request.system:
        messages.append({"role": "system", "content": request.system})
    for m in request.messages:
        if m.role == "tool":
            messages.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": m.content})
        elif m.tool_calls:
            calls = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": json.dumps(c.arguments)},
                }
                for c in m.tool_calls
            ]
            messages.append(
                {"role": "assistant", "content": m.content or None, "tool_calls": calls}
            )
        elif m.images:
            parts: list[dict[str, Any]] = [{"type": "text", "text": m.content}] if m.content else []
            parts.extend({"type": "image_url", "image_url": {
                "url": f"data:{i.content_type};base64,{i.base64()}"}} for i in m.images)
            messages.append({"role": m.role, "content": parts})
        else:
            messages.append({"role": m.role, "content": m.content})
    kwargs: dict[str, Any] = {"model": model.ref.model, "messages": messages}
    # OpenAI's newer models only take max_completion_tokens; compatible servers know max_tokens.
    limit_name = "max_completion_tokens" if model.provider.name == "openai" else "max_tokens"
    kwargs[limit_name] = request.max_tokens
    if request.temperature is not None:
        kwargs["temperature"] = request.temperature
    if request.tools:
        kwargs["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t.name,
                    "description": t.description,
                    "parameters": dict(t.parameters),
                },
            }
            for t in request.tools
        ]
    level = thinking_for(model, request)
    if level is not None:
        kwargs["reasoning_effort"] = level
    params = {**model.params, **request.params}
    if params:
        kwargs["extra_body"] = params
    return kwargs


def _reasoning_of(message: Any) -> str:
    extra = getattr(message, "model_extra", None) or {}
    value = extra.get("reasoning_content") or extra.get("reasoning")
    return value if isinstance(value, str) else ""


def _whole_answer(response: Any) -> list[ProviderEvent]:
    choice = response.choices[0]
    events: list[ProviderEvent] = []
    # OpenAI-compatible servers that show reasoning (vLLM, DeepSeek, OpenRouter) send it as
    # `reasoning_content` (or `reasoning`) beside the content.
    reasoning = _reasoning_of(choice.message)
    if reasoning:
        events.append(ReasoningDelta(reasoning))
    if choice.message.content:
        events.append(TextDelta(choice.message.content))
    for call in choice.message.tool_calls or ():
        args = parse_arguments(call.function.arguments)
        events.append(ToolCallEvent(ToolCall(call.id, call.function.name, args)))
    if response.usage is not None:
        events.append(Usage(response.usage.prompt_tokens, response.usage.completion_tokens))
    events.append(Finish(_FINISH.get(choice.finish_reason, "stop")))
    return events


async def _stream_events(stream: Any) -> AsyncIterator[ProviderEvent]:
    # Tool calls arrive in fragments keyed by index; they are complete only at the end.
    pending: dict[int, list[str]] = {}
    finish: FinishReason | None = None
    usage: Usage | None = None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = Usage(chunk.usage.prompt_tokens, chunk.usage.completion_tokens)
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        if delta is not None:
            reasoning = _reasoning_of(delta)
            if reasoning:
                yield ReasoningDelta(reasoning)
            if delta.content:
                yield TextDelta(delta.content)
            for frag in delta.tool_calls or ():
                slot = pending.setdefault(frag.index, ["", "", ""])
                if frag.id:
                    slot[0] = frag.id
                if frag.function is not None:
                    slot[1] += frag.function.name or ""
                    slot[2] += frag.function.arguments or ""
        if choice.finish_reason:
            finish = _FINISH.get(choice.finish_reason, "stop")
    for call_id, name, raw_args in (pending[i] for i in sorted(pending)):
        yield ToolCallEvent(ToolCall(call_id, name, parse_arguments(raw_args)))
    if usage is not None:
        yield usage
    if finish is None:
        raise ProviderFailure(FailureKind.UNAVAILABLE, "the stream ended without a finish reason")
    yield Finish(finish)
