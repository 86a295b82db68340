"""Anthropic Messages through the `anthropic` SDK."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

import anthropic

from shoal.llm.errors import FailureKind, ProviderFailure
from shoal.llm.providers.base import (
    ClientCache,
    Credential,
    classify_status,
    error_message,
    parse_arguments,
)
from shoal.llm.thinking import BUDGETS, thinking_for
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
    from shoal.llm.types import ChatMessage, ChatRequest, ProviderEvent

_FINISH: dict[str | None, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "tool_use": "tool_use",
    "refusal": "content_filter",
}


class AnthropicMessagesAdapter:
    """Speaks the Messages API; one SDK client per (base URL, key), reused across calls."""

    def __init__(self) -> None:
        # The SDK is typed for httpx2's client. It gets none today: only an agent's Ollama
        # endpoint is guarded, and that goes through the OpenAI adapter.
        self._clients = ClientCache(lambda base_url, key, timeout, http: anthropic.AsyncAnthropic(
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
                message = await client.messages.create(**kwargs)
                for event in _whole_answer(message):
                    yield event
                return
            stream = await client.messages.create(**kwargs, stream=True)
            try:
                async for event in _stream_events(stream):
                    yield event
            finally:
                await stream.close()
        except anthropic.APIStatusError as exc:
            message_text = error_message(exc.body, exc.message)
            raise classify_status(exc.status_code, message_text, exc.response.headers) from None
        except anthropic.APITimeoutError:
            raise ProviderFailure(FailureKind.TIMEOUT, "the provider timed out") from None
        except anthropic.APIConnectionError as exc:
            raise ProviderFailure(FailureKind.UNAVAILABLE, f"connection failed: {exc}") from None
        except AddressRefused as exc:  # an agent's own endpoint, refused by the outbound guard
            raise ProviderFailure(FailureKind.UNAVAILABLE, exc.message) from None
        except (anthropic.APIError, ValueError, KeyError) as exc:
            raise ProviderFailure(FailureKind.UNAVAILABLE, f"malformed answer: {exc}") from None


def _content(m: ChatMessage) -> list[dict[str, Any]]:
    if m.role == "tool":
        return [{"type": "tool_result", "tool_use_id": m.tool_call_id, "content": m.content}]
    blocks: list[dict[str, Any]] = []
    if m.reasoning and m.reasoning_signature and m.tool_calls:
        blocks.append({"type": "thinking", "thinking": m.reasoning,
                       "signature": m.reasoning_signature})
    blocks += [
        {"type": "image", "source": {"type": "base64", "media_type": i.content_type,
                                     "data": i.base64()}} for i in m.images]
    if m.content:
        blocks.append({"type": "text", "text": m.content})
    blocks.extend(
        {"type": "tool_use", "id": c.id, "name": c.name, "input": dict(c.arguments)}
        for c in m.tool_calls
    )
    return blocks


def _request_kwargs(model: ResolvedModel, request: ChatRequest) -> dict[str, Any]:
    # Messages must alternate; tool results travel in user turns, merged with neighbours.
    messages: list[dict[str, Any]] = []
    for m in request.messages:
        role = "assistant" if m.role == "assistant" else "user"
        blocks = _content(m)
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"].extend(blocks)
        else:
            messages.append({"role": role, "content": blocks})
    kwargs: dict[str, Any] = {
        "model": model.ref.model,
        "messages": messages,
        "max_tokens": request.max_tokens,
    }
    if request.system:
        kwargs["system"] = request.system
    if request.tools:
        kwargs["tools"] = [
            {"name": t.name, "description": t.description, "input_schema": dict(t.parameters)}
            for t in request.tools
        ]
    params = {**model.params, **request.params}
    level = thinking_for(model, request)
    if level is not None:
        # The budget comes out of max_tokens, and thinking takes no temperature.
        kwargs["thinking"] = {"type": "enabled", "budget_tokens": BUDGETS[level]}
        kwargs["max_tokens"] = request.max_tokens + BUDGETS[level]
    elif request.temperature is not None:
        # This SDK version no longer takes temperature as an argument; the API still does.
        params.setdefault("temperature", request.temperature)
    if params:
        kwargs["extra_body"] = params
    return kwargs


def _whole_answer(message: Any) -> list[ProviderEvent]:
    events: list[ProviderEvent] = []
    for block in message.content:
        if block.type == "thinking":
            events.append(ReasoningDelta(block.thinking, getattr(block, "signature", "") or ""))
        elif block.type == "text" and block.text:
            events.append(TextDelta(block.text))
        elif block.type == "tool_use":
            events.append(ToolCallEvent(ToolCall(block.id, block.name, dict(block.input))))
    events.append(Usage(message.usage.input_tokens, message.usage.output_tokens))
    events.append(Finish(_FINISH.get(message.stop_reason, "stop")))
    return events


async def _stream_events(stream: Any) -> AsyncIterator[ProviderEvent]:
    tool: list[str] | None = None  # id, name, partial JSON of the tool block being streamed
    input_tokens = output_tokens = 0
    finish: FinishReason | None = None
    async for event in stream:
        kind = event.type
        if kind == "content_block_delta":
            delta = event.delta
            if delta.type == "text_delta":
                yield TextDelta(delta.text)
            elif delta.type == "thinking_delta":
                yield ReasoningDelta(delta.thinking)
            elif delta.type == "signature_delta":
                yield ReasoningDelta("", delta.signature)
            elif delta.type == "input_json_delta" and tool is not None:
                tool[2] += delta.partial_json
        elif kind == "content_block_start":
            block = event.content_block
            if block.type == "tool_use":
                tool = [block.id, block.name, json.dumps(block.input) if block.input else ""]
        elif kind == "content_block_stop" and tool is not None:
            yield ToolCallEvent(ToolCall(tool[0], tool[1], parse_arguments(tool[2])))
            tool = None
        elif kind == "message_start":
            input_tokens = event.message.usage.input_tokens
            output_tokens = event.message.usage.output_tokens
        elif kind == "message_delta":
            output_tokens = event.usage.output_tokens
            finish = _FINISH.get(event.delta.stop_reason, "stop")
    if finish is None:
        raise ProviderFailure(FailureKind.UNAVAILABLE, "the stream ended without a stop reason")
    yield Usage(input_tokens, output_tokens)
    yield Finish(finish)
