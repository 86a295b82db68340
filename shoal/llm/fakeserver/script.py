"""What the fake provider answers: scripted replies and injected faults."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from shoal.errors import InvalidInput

FaultKind = Literal["http", "stall", "malformed", "context_length"]
Finish = Literal["stop", "length", "tool_use"]

DEFAULT_TEXT = "This is the fake provider speaking."


@dataclass(frozen=True, slots=True)
class FakeToolCall:
    """A tool call the fake model makes."""

    name: str
    arguments: Mapping[str, Any] = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Reply:
    """A successful answer. Text streams in word-sized chunks; `stall_after` chunks in, the
    stream stops sending and holds the connection open."""

    text: str = DEFAULT_TEXT
    tool_calls: Sequence[FakeToolCall] = ()
    # The model's own reasoning, sent before the text in each wire's form: OpenAI-compatible
    # `reasoning_content`, an Anthropic thinking block, Gemini thought parts.
    reasoning: str = ""
    finish: Finish | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    chunk_delay: float = 0.0
    stall_after: int | None = None

    def chunks(self) -> list[str]:
        """The text as it is streamed: words with their trailing space."""
        return re.findall(r"\S+\s*", self.text)

    def reasoning_chunks(self) -> list[str]:
        """The reasoning as it is streamed."""
        return re.findall(r"\S+\s*", self.reasoning)

    def finish_reason(self) -> Finish:
        """The reason the answer ends, defaulting by whether it calls tools."""
        return self.finish or ("tool_use" if self.tool_calls else "stop")


@dataclass(frozen=True, slots=True)
class Fault:
    """A failure to inject: an HTTP error, a stall, malformed output or a context overflow."""

    kind: FaultKind
    status: int = 200
    retry_after: float | None = None

    @classmethod
    def http(cls, status: int, retry_after: float | None = None) -> Fault:
        """An error response: 401, 402, 429 (with Retry-After), 500, 503, 529..."""
        return cls("http", status, retry_after)

    @classmethod
    def stall(cls) -> Fault:
        """Accept the request and never answer."""
        return cls("stall")

    @classmethod
    def malformed(cls) -> Fault:
        """Answer 200 with a body that is not valid for the wire format."""
        return cls("malformed")

    @classmethod
    def context_length(cls) -> Fault:
        """Refuse with the provider's context-length error (400)."""
        return cls("context_length", 400)


ScriptItem = Reply | Fault

CONTEXT_LENGTH_TEXT = "This model's maximum context length is 8192 tokens; the request is longer."
ERROR_TEXT = {
    400: "Invalid request: a parameter is not valid.",
    401: "Invalid API key provided.",
    402: "Insufficient credit: add credit to your account to continue.",
    403: "This key may not use this model.",
    429: "Rate limit reached; try again later.",
    500: "Internal server error.",
    503: "Service unavailable.",
    529: "Overloaded.",
}


def item_from_json(raw: Mapping[str, Any]) -> ScriptItem:
    """One script entry from JSON: `{"text": ..., "tool_calls": [...]}` or `{"fault": 429,
    "retry_after": 5}` or `{"fault": "stall" | "malformed" | "context_length"}`."""
    fault = raw.get("fault")
    if fault is not None:
        if fault in ("stall", "malformed", "context_length"):
            return Fault(fault, 400 if fault == "context_length" else 200)
        try:
            return Fault.http(int(fault), raw.get("retry_after"))
        except (TypeError, ValueError):
            raise InvalidInput(f"unknown fault {fault!r}") from None
    calls = [
        FakeToolCall(c["name"], c.get("arguments") or {}, c.get("id"))
        for c in raw.get("tool_calls") or ()
    ]
    return Reply(
        text=raw.get("text", "" if calls else DEFAULT_TEXT),
        tool_calls=calls,
        finish=raw.get("finish"),
        input_tokens=raw.get("input_tokens"),
        output_tokens=raw.get("output_tokens"),
        chunk_delay=float(raw.get("chunk_delay", 0.0)),
        stall_after=raw.get("stall_after"),
    )
