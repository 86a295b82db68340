"""The normalized request every provider accepts and the events every provider streams back."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant", "tool"]
FinishReason = Literal["stop", "length", "tool_use", "content_filter", "error"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call; `parameters` is a JSON schema for its arguments."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call the model asked for, with its arguments already parsed from JSON."""

    id: str
    name: str
    arguments: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image a user turn shows the model: its bytes and their type (image/png, ...)."""

    content_type: str
    data: bytes
    name: str = ""

    def base64(self) -> str:
        """The bytes in base64, as the providers' JSON takes them."""
        return base64.b64encode(self.data).decode("ascii")


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One conversation turn. Assistant turns may carry tool calls; tool turns answer one;
    user turns may show images (to models that can see)."""

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None  # the tool's name on a tool turn (Gemini needs it)
    images: tuple[ImagePart, ...] = ()
    # An assistant turn's own reasoning and the provider's signature of it: Anthropic wants
    # both back on the turn that called tools when thinking is on.
    reasoning: str = ""
    reasoning_signature: str = ""


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """What a caller asks of a model, independent of the provider that answers."""

    messages: Sequence[ChatMessage]
    system: str = ""
    tools: Sequence[ToolSpec] = ()
    stream: bool = True
    max_tokens: int = 1024
    temperature: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)  # provider extras, passed through
    # How much to reason first: low, medium or high (None or off: not at all); each provider
    # gets it in its own terms (shoal.llm.thinking), models without reasoning ignore it.
    thinking: str | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of the answer's text, in the order it was produced."""

    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """A piece of the model's own reasoning (never part of the answer); `signature` is the
    provider's seal on a finished reasoning block, when it gives one."""

    text: str
    signature: str = ""


@dataclass(frozen=True, slots=True)
class ToolCallEvent:
    """The model wants a tool run; arguments are parsed."""

    call: ToolCall


@dataclass(frozen=True, slots=True)
class Usage:
    """Tokens the call consumed, as the provider counted them."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class Finish:
    """The last event of a successful stream."""

    reason: FinishReason


@dataclass(frozen=True, slots=True)
class AttemptStarted:
    """The fallback layer is calling this model with this auth profile."""

    model: str
    profile: str


@dataclass(frozen=True, slots=True)
class StreamReset:
    """The attempt that streamed the events since the last AttemptStarted failed after
    producing output; discard that output, another attempt follows."""

    model: str
    reason: str


ProviderEvent = TextDelta | ReasoningDelta | ToolCallEvent | Usage | Finish
StreamEvent = ProviderEvent | AttemptStarted | StreamReset


@dataclass(slots=True)
class Completion:
    """A whole answer gathered from a stream."""

    text: str = ""
    reasoning: str = ""
    reasoning_signature: str = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage | None = None
    finish_reason: FinishReason | None = None
    model: str = ""
    profile: str = ""

    def add(self, event: StreamEvent) -> None:
        """Fold one event into the answer."""
        if isinstance(event, TextDelta):
            self.text += event.text
        elif isinstance(event, ReasoningDelta):
            self.reasoning += event.text
            self.reasoning_signature = event.signature or self.reasoning_signature
        elif isinstance(event, ToolCallEvent):
            self.tool_calls.append(event.call)
        elif isinstance(event, Usage):
            self.usage = event
        elif isinstance(event, Finish):
            self.finish_reason = event.reason
        elif isinstance(event, AttemptStarted):
            self.model, self.profile = event.model, event.profile
        elif isinstance(event, StreamReset):
            self.text, self.tool_calls, self.usage = "", [], None
            self.reasoning = self.reasoning_signature = ""
