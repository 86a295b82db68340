"""The three wire formats the fake provider speaks: OpenAI Chat Completions, Anthropic
Messages and Gemini generateContent, each whole or as server-sent events."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

from shoal.llm.fakeserver.script import CONTEXT_LENGTH_TEXT, ERROR_TEXT, Fault, Reply

OPENAI_FINISH = {"stop": "stop", "length": "length", "tool_use": "tool_calls"}
ANTHROPIC_FINISH = {"stop": "end_turn", "length": "max_tokens", "tool_use": "tool_use"}
GEMINI_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "tool_use": "STOP"}
ANTHROPIC_ERROR_TYPE = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}
GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    429: "RESOURCE_EXHAUSTED",
    503: "UNAVAILABLE",
}

FAKE_SIGNATURE = "fake-signature"  # what the fake seals an Anthropic thinking block with


def _sse(data: Any, event: str | None = None) -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data)}\n\n".encode()


def _call_id(reply: Reply, i: int, prefix: str) -> str:
    return reply.tool_calls[i].id or f"{prefix}_{i + 1}"


def error_body(wire: str, fault: Fault) -> dict[str, Any]:
    """The error JSON a provider sends with a failing status."""
    if fault.kind == "context_length":
        text = CONTEXT_LENGTH_TEXT
    else:
        text = ERROR_TEXT.get(fault.status, f"HTTP {fault.status}")
    if wire == "anthropic":
        kind = ANTHROPIC_ERROR_TYPE.get(fault.status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": text}}
    if wire == "gemini":
        status = GEMINI_STATUS.get(fault.status, "INTERNAL")
        return {"error": {"code": fault.status, "message": text, "status": status}}
    code = "context_length_exceeded" if fault.kind == "context_length" else None
    return {"error": {"message": text, "type": "fake_error", "code": code}}


def openai_whole(reply: Reply, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    """A non-streamed chat.completion."""
    message: dict[str, Any] = {"role": "assistant", "content": reply.text or None}
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "id": _call_id(reply, i, "call"),
                "type": "function",
                "function": {"name": c.name, "arguments": json.dumps(dict(c.arguments))},
            }
            for i, c in enumerate(reply.tool_calls)
        ]
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": 0, "message": message, "finish_reason": OPENAI_FINISH[reply.finish_reason()]}
        ],
        "usage": {
            "prompt_tokens": usage[0],
            "completion_tokens": usage[1],
            "total_tokens": usage[0] + usage[1],
        },
    }


def openai_frames(
    reply: Reply, model: str, usage: tuple[int, int], include_usage: bool
) -> Iterator[bytes]:
    """chat.completion.chunk events; tool arguments arrive split in two fragments."""
    base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    yield chunk({"role": "assistant", "content": ""})
    for piece in reply.reasoning_chunks():
        yield chunk({"reasoning_content": piece})
    for piece in reply.chunks():
        yield chunk({"content": piece})
    for i, c in enumerate(reply.tool_calls):
        args = json.dumps(dict(c.arguments))
        half = len(args) // 2
        head = {"id": _call_id(reply, i, "call"), "type": "function"}
        yield chunk(
            {
                "tool_calls": [
                    {"index": i, **head, "function": {"name": c.name, "arguments": args[:half]}}
                ]
            }
        )
        yield chunk({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]})
    yield chunk({}, OPENAI_FINISH[reply.finish_reason()])
    if include_usage:
        total = usage[0] + usage[1]
        counts = {"prompt_tokens": usage[0], "completion_tokens": usage[1], "total_tokens": total}
        yield _sse({**base, "choices": [], "usage": counts})
    yield b"data: [DONE]\n\n"


def anthropic_whole(reply: Reply, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    """A non-streamed message."""
    content: list[dict[str, Any]] = [{"type": "thinking", "thinking": reply.reasoning,
                                      "signature": FAKE_SIGNATURE}] if reply.reasoning else []
    content += [{"type": "text", "text": reply.text}] if reply.text else []
    content.extend(
        {
            "type": "tool_use",
            "id": _call_id(reply, i, "toolu"),
            "name": c.name,
            "input": dict(c.arguments),
        }
        for i, c in enumerate(reply.tool_calls)
    )
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": ANTHROPIC_FINISH[reply.finish_reason()],
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1]},
    }


def anthropic_frames(reply: Reply, model: str, usage: tuple[int, int]) -> Iterator[bytes]:
    """Messages streaming events, from message_start to message_stop."""
    start = anthropic_whole(reply, model, (usage[0], 1))
    start.update(content=[], stop_reason=None)
    yield _sse({"type": "message_start", "message": start}, "message_start")
    index = 0
    if reply.reasoning:
        thinking = {"type": "thinking", "thinking": "", "signature": ""}
        yield _sse({"type": "content_block_start", "index": 0, "content_block": thinking},
                   "content_block_start")
        for piece in reply.reasoning_chunks():
            delta = {"type": "content_block_delta", "index": 0,
                     "delta": {"type": "thinking_delta", "thinking": piece}}
            yield _sse(delta, "content_block_delta")
        seal = {"type": "content_block_delta", "index": 0,
                "delta": {"type": "signature_delta", "signature": FAKE_SIGNATURE}}
        yield _sse(seal, "content_block_delta")
        yield _sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        index = 1
    if reply.text:
        block = {
            "type": "content_block_start",
            "index": index,
            "content_block": {"type": "text", "text": ""},
        }
        yield _sse(block, "content_block_start")
        for piece in reply.chunks():
            delta = {
                "type": "content_block_delta",
                "index": index,
                "delta": {"type": "text_delta", "text": piece},
            }
            yield _sse(delta, "content_block_delta")
        yield _sse({"type": "content_block_stop", "index": index}, "content_block_stop")
        index += 1
    for i, c in enumerate(reply.tool_calls):
        tool = {"type": "tool_use", "id": _call_id(reply, i, "toolu"), "name": c.name, "input": {}}
        yield _sse(
            {"type": "content_block_start", "index": index, "content_block": tool},
            "content_block_start",
        )
        args = json.dumps(dict(c.arguments))
        for part in (args[: len(args) // 2], args[len(args) // 2 :]):
            delta = {"type": "input_json_delta", "partial_json": part}
            yield _sse(
                {"type": "content_block_delta", "index": index, "delta": delta},
                "content_block_delta",
            )
        yield _sse({"type": "content_block_stop", "index": index}, "content_block_stop")
        index += 1
    stop = {"stop_reason": ANTHROPIC_FINISH[reply.finish_reason()], "stop_sequence": None}
    end = {"type": "message_delta", "delta": stop, "usage": {"output_tokens": usage[1]}}
    yield _sse(end, "message_delta")
    yield _sse({"type": "message_stop"}, "message_stop")


def _gemini_chunk(
    parts: list[dict[str, Any]], model: str, finish: str | None = None
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    if finish:
        candidate["finishReason"] = finish
    return {"candidates": [candidate], "modelVersion": model}


def _gemini_usage(usage: tuple[int, int]) -> dict[str, int]:
    return {
        "promptTokenCount": usage[0],
        "candidatesTokenCount": usage[1],
        "totalTokenCount": usage[0] + usage[1],
    }


def _gemini_calls(reply: Reply) -> list[dict[str, Any]]:
    return [
        {
            "functionCall": {
                "id": _call_id(reply, i, "fc"),
                "name": c.name,
                "args": dict(c.arguments),
            }
        }
        for i, c in enumerate(reply.tool_calls)
    ]


def gemini_whole(reply: Reply, model: str, usage: tuple[int, int]) -> dict[str, Any]:
    """A non-streamed GenerateContentResponse."""
    parts = ([{"text": reply.reasoning, "thought": True}] if reply.reasoning else [])
    parts += ([{"text": reply.text}] if reply.text else []) + _gemini_calls(reply)
    body = _gemini_chunk(parts, model, GEMINI_FINISH[reply.finish_reason()])
    body["usageMetadata"] = _gemini_usage(usage)
    return body


def gemini_frames(reply: Reply, model: str, usage: tuple[int, int]) -> Iterator[bytes]:
    """streamGenerateContent?alt=sse: one response per chunk; the last carries usage."""
    for piece in reply.reasoning_chunks():
        yield _sse(_gemini_chunk([{"text": piece, "thought": True}], model))
    for piece in reply.chunks():
        yield _sse(_gemini_chunk([{"text": piece}], model))
    last = _gemini_chunk(_gemini_calls(reply), model, GEMINI_FINISH[reply.finish_reason()])
    last["usageMetadata"] = _gemini_usage(usage)
    yield _sse(last)
