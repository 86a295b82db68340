"""Google Gemini through the `google-genai` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp
import httpx
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from shoal.llm.errors import FailureKind, ProviderFailure
from shoal.llm.providers.base import ClientCache, Credential, classify_status
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

if TYPE_CHECKING:
    from shoal.llm.refs import ResolvedModel
    from shoal.llm.types import ChatRequest, ProviderEvent

_FINISH: dict[str, FinishReason] = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
}


class GoogleGenAIAdapter:
    """Speaks generateContent; one SDK client per (base URL, key), reused across calls."""

    def __init__(self) -> None:
        # No retry_options means one attempt: the fallback layer owns retries.
        # Agents' own endpoints (guarded) are only for OpenAI-compatible servers such as Ollama.
        self._clients = ClientCache(lambda base_url, key, timeout, _http: genai.Client(
            api_key=key, vertexai=False,
            http_options=types.HttpOptions(base_url=base_url, timeout=int(timeout * 1000))))

    async def stream(
        self, model: ResolvedModel, request: ChatRequest, credential: Credential, timeout: float
    ) -> AsyncIterator[ProviderEvent]:
        """Call the model and yield its answer as normalized events."""
        client = self._clients.get(model.provider.base_url, credential.api_key or "unused", timeout)
        contents, config = _request(model, request)
        try:
            if not request.stream:
                response = await client.aio.models.generate_content(
                    model=model.ref.model, contents=contents, config=config
                )
                state = _StreamState()
                for event in state.absorb(response):
                    yield event
                for event in state.finish():
                    yield event
                return
            chunks = await client.aio.models.generate_content_stream(
                model=model.ref.model, contents=contents, config=config
            )
            state = _StreamState()
            try:
                async for chunk in chunks:
                    for event in state.absorb(chunk):
                        yield event
            finally:
                await chunks.aclose()  # type: ignore[attr-defined]
            for event in state.finish():
                yield event
        except genai_errors.APIError as exc:
            headers = getattr(exc.response, "headers", None)
            raise classify_status(exc.code, exc.message or str(exc), headers) from None
        except (TimeoutError, httpx.TimeoutException):
            raise ProviderFailure(FailureKind.TIMEOUT, "the provider timed out") from None
        except (aiohttp.ClientError, httpx.HTTPError) as exc:
            raise ProviderFailure(FailureKind.UNAVAILABLE, f"connection failed: {exc}") from None
        except (ValueError, KeyError) as exc:
            raise ProviderFailure(FailureKind.UNAVAILABLE, f"malformed answer: {exc}") from None

    async def embed(self, model: ResolvedModel, texts: Sequence[str], credential: Credential,
                    timeout: float) -> list[list[float]]:
        """One vector per text from embedContent."""
        client = self._clients.get(model.provider.base_url, credential.api_key or "unused", timeout)
        try:
            answer = await client.aio.models.embed_content(model=model.ref.model,
                                                           contents=list(texts))
        except genai_errors.APIError as exc:
            headers = getattr(exc.response, "headers", None)
            raise classify_status(exc.code, exc.message or str(exc), headers) from None
        except (TimeoutError, httpx.TimeoutException):
            raise ProviderFailure(FailureKind.TIMEOUT, "the provider timed out") from None
        except (aiohttp.ClientError, httpx.HTTPError) as exc:
            raise ProviderFailure(FailureKind.UNAVAILABLE, f"connection failed: {exc}") from None
        return [list(e.values or []) for e in answer.embeddings or []]


def _request(
    model: ResolvedModel, request: ChatRequest
) -> tuple[list[types.Content], types.GenerateContentConfig]:
    contents: list[types.Content] = []
    for m in request.messages:
        if m.role == "tool":
            part = types.Part(
                function_response=types.FunctionResponse(
                    id=m.tool_call_id, name=m.name or "tool", response={"result": m.content}
                )
            )
            contents.append(types.Content(role="user", parts=[part]))
            continue
        parts = [types.Part(text=m.content)] if m.content else []
        parts.extend(types.Part.from_bytes(data=i.data, mime_type=i.content_type)
                     for i in m.images)
        parts.extend(
            types.Part(
                function_call=types.FunctionCall(id=c.id, name=c.name, args=dict(c.arguments))
            )
            for c in m.tool_calls
        )
        contents.append(
            types.Content(role="model" if m.role == "assistant" else "user", parts=parts)
        )
    config: dict[str, Any] = {
        "max_output_tokens": request.max_tokens,
        "automatic_function_calling": types.AutomaticFunctionCallingConfig(disable=True),
    }
    level = thinking_for(model, request)
    if level is not None:
        config["thinking_config"] = types.ThinkingConfig(thinking_budget=BUDGETS[level],
                                                         include_thoughts=True)
    if request.system:
        config["system_instruction"] = request.system
    if request.temperature is not None:
        config["temperature"] = request.temperature
    if request.tools:
        declarations = [
            types.FunctionDeclaration(
                name=t.name, description=t.description, parameters_json_schema=dict(t.parameters)
            )
            for t in request.tools
        ]
        config["tools"] = [types.Tool(function_declarations=declarations)]
    config.update(model.params)
    config.update(request.params)
    return contents, types.GenerateContentConfig(**config)


class _StreamState:
    """Gemini repeats nothing between chunks; usage comes with the last one."""

    def __init__(self) -> None:
        self.usage: Usage | None = None
        self.reason: FinishReason | None = None
        self.calls = 0

    def absorb(self, chunk: types.GenerateContentResponse) -> list[ProviderEvent]:
        events: list[ProviderEvent] = []
        meta = chunk.usage_metadata
        if meta is not None and meta.prompt_token_count is not None:
            self.usage = Usage(meta.prompt_token_count, meta.candidates_token_count or 0)
        if not chunk.candidates:
            return events
        candidate = chunk.candidates[0]
        for part in (candidate.content.parts if candidate.content else None) or ():
            if part.text and part.thought:
                events.append(ReasoningDelta(part.text))
            elif part.text:
                events.append(TextDelta(part.text))
            elif part.function_call is not None:
                call = part.function_call
                self.calls += 1
                call_id = call.id or f"call_{self.calls}"
                events.append(
                    ToolCallEvent(ToolCall(call_id, call.name or "", dict(call.args or {})))
                )
        if candidate.finish_reason is not None:
            name = getattr(candidate.finish_reason, "value", str(candidate.finish_reason))
            self.reason = _FINISH.get(name, "stop")
        return events

    def finish(self) -> list[ProviderEvent]:
        if self.reason is None:
            raise ProviderFailure(
                FailureKind.UNAVAILABLE, "the stream ended without a finish reason"
            )
        events: list[ProviderEvent] = [self.usage] if self.usage else []
        # Gemini says STOP even when it asks for tools; callers want to know a tool is due.
        events.append(Finish("tool_use" if self.calls and self.reason == "stop" else self.reason))
        return events
