"""The offline model: deterministic, no network, plain about not being a real model."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from shoal.llm.conventions import NO_REPLY, RELEVANCE_INSTRUCTION
from shoal.llm.embeddings import offline_embedding
from shoal.llm.types import (
    ChatMessage,
    ChatRequest,
    Finish,
    ProviderEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
)

if TYPE_CHECKING:
    from shoal.llm.providers.base import Credential
    from shoal.llm.refs import ResolvedModel

OFFLINE_NOTICE = "(offline model: this is not a real language model)"
_SLASH = re.compile(r"(?<![\w/])/([A-Za-z][\w-]*)(?:[ \t]+([^\n]*))?")
_WORD = re.compile(r"[a-z0-9][a-z0-9'-]{3,}")
_CHECK_IN = re.compile(r"check[ -]?in|heartbeat|" + NO_REPLY, re.I)
_STOPWORDS = frozenset(
    "this that with from have what when where which about your yours they them their there "
    "would could should been were will into only also just than then some more most very "
    "message below relevant given answer".split()
)


def offline_answer(request: ChatRequest) -> list[ProviderEvent]:
    """The whole answer the offline model gives to a request, as events."""
    user_turn = _newest(request.messages, "user")
    last = request.messages[-1] if request.messages else None
    deltas: list[str]
    calls: list[ToolCall] = []
    if last is not None and last.role == "tool":
        deltas = _words(f"{OFFLINE_NOTICE} {_summarize(request.messages, last)}")
    elif user_turn is not None and RELEVANCE_INSTRUCTION in user_turn.content:
        deltas = ["YES" if _overlaps(request.system, user_turn.content) else "NO"]
    elif user_turn is not None and (call := _tool_call(user_turn, request.tools, request)):
        deltas, calls = [], [call]
    elif user_turn is not None and _CHECK_IN.search(user_turn.content):
        deltas = [NO_REPLY]
    else:
        said = _unmention(" ".join(user_turn.content.split()[:40])) if user_turn else ""
        reply = f'{OFFLINE_NOTICE} I cannot think, but I read your message: "{said}"'
        deltas = _words(reply)
    events: list[ProviderEvent] = [TextDelta(d) for d in deltas]
    events.extend(ToolCallEvent(c) for c in calls)
    prompt_words = len(request.system.split()) + sum(
        len(m.content.split()) for m in request.messages
    )
    events.append(Usage(prompt_words, len(deltas) + len(calls)))
    events.append(Finish("tool_use" if calls else "stop"))
    return events


class OfflineAdapter:
    """Serves the offline model through the same interface as the network providers."""

    async def stream(
        self, model: ResolvedModel, request: ChatRequest, credential: Credential, timeout: float
    ) -> AsyncIterator[ProviderEvent]:
        """Yield the offline answer, giving the event loop a turn between words."""
        events = offline_answer(request)
        if not request.stream:
            text = "".join(e.text for e in events if isinstance(e, TextDelta))
            rest = [e for e in events if not isinstance(e, TextDelta)]
            events = ([TextDelta(text)] if text else []) + rest
        for event in events:
            yield event
            await asyncio.sleep(0)  # so a cancel lands between words, as with a real stream

    async def embed(self, model: ResolvedModel, texts: Sequence[str], credential: Credential,
                    timeout: float) -> list[list[float]]:
        """The offline embedder's vectors (see shoal.llm.embeddings)."""
        return [offline_embedding(t) for t in texts]


def _newest(messages: Sequence[ChatMessage], role: str) -> ChatMessage | None:
    return next((m for m in reversed(messages) if m.role == role), None)


def _words(text: str) -> list[str]:
    # Each delta is a word with the space that follows it, so deltas join back losslessly.
    return re.findall(r"\S+\s*", text)


def _keywords(text: str) -> set[str]:
    return {w.rstrip("s") for w in _WORD.findall(text.lower()) if w not in _STOPWORDS}


def _overlaps(profile: str, question: str) -> bool:
    _, _, message = question.partition(RELEVANCE_INSTRUCTION)
    return bool(_keywords(profile) & _keywords(message))


def _tool_call(
    turn: ChatMessage, tools: Sequence[ToolSpec], request: ChatRequest
) -> ToolCall | None:
    by_name = {t.name.lstrip("/"): t for t in tools}
    for match in _SLASH.finditer(turn.content):
        tool = by_name.get(match.group(1))
        if tool is None:
            continue
        rest = (match.group(2) or "").strip()
        props = dict(tool.parameters.get("properties") or {})
        strings = [k for k, v in props.items() if isinstance(v, dict) and v.get("type") == "string"]
        if "args" in props:
            args = {"args": rest}
        else:
            args = _fill(strings, props, rest)
        return ToolCall(f"offline-{len(request.messages)}", tool.name, args)
    return None


def _fill(names: list[str], props: dict[str, Any], text: str) -> dict[str, str]:
    """Words of `text` to string parameters in order, one word each; a parameter described
    as taking the rest of the text takes all the words left."""
    words = text.split()
    args: dict[str, str] = {}
    for name in names:
        if not words:
            break
        if "rest" in str(props[name].get("description", "")):
            args[name], words = " ".join(words), []
        else:
            args[name] = words.pop(0)
    return args


def _unmention(text: str) -> str:
    # Quoting "@alice" back would mention her again and wake any bot named: among bots on
    # this model, every reply would fan out to everyone its trigger named.
    return text.replace("@", "")


def _summarize(messages: Sequence[ChatMessage], result: ChatMessage) -> str:
    name = result.name
    if name is None:
        calls = (c for m in messages for c in m.tool_calls if c.id == result.tool_call_id)
        name = next((c.name for c in calls), "tool")
    text = _unmention(" ".join(result.content.split()))
    if len(text) > 300:
        text = text[:300] + "…"
    return f"The /{name.lstrip('/')} command returned: {text or '(nothing)'}"
