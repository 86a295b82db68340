"""Compaction that never forgets, and pruning of old tool results.

When a session's context would not leave `reserve_tokens` of the model's window free (or the
provider says the request is too long), the runtime first runs the memory flush: one model
turn, in the same activation, offered only the memory tools (the registry's `memory` group,
or the room's `/save` note command where no memory tool is offered), asked to save what must
survive. Then the oldest turns are summarized by the model into a summary turn that records
which turns it covers, and the activation carries on. The session's turns and the room's log
stay; the summary only stands in for the older turns in the model's context. Each
compaction is recorded on the activation (`compactions`, with the flush's outcome) and told
to the listeners of `CompactionEvents`.

Pruning cuts old tool results in the context only (never in the session), as
`shoal.config.PruningSettings` describes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from shoal.errors import ShoalError
from shoal.llm import ChatMessage, ChatRequest, Completion, ContextOverflow, ToolSpec
from shoal.runtime.context import estimate_tokens, turn_tokens
from shoal.runtime.sessions import StoredTurn, append_turns
from shoal.store.tables import Activation, utcnow

if TYPE_CHECKING:
    from shoal.config import CompactionSettings, PruningSettings
    from shoal.store import Database
    from shoal.tools.base import Tool
    from shoal.tools.registry import Toolbox, ToolRun

log = logging.getLogger("shoal.runtime")

MEMORY_GROUP = "memory"
NOTES_FALLBACK = ("notes", "save")  # group and tool used when no memory tool is offered
NOT_IN_FLUSH = frozenset({"memory_forget"})  # a flush saves; it never forgets
SUMMARY_MAX_TOKENS = 1024
TRANSCRIPT_TURN_CHARS = 4000  # a turn's share of a transcript, at most
FLUSH_PROMPT = (
    "[Memory flush] The oldest part of this conversation (above) is about to be compacted "
    "into a short summary, and its details will leave your context. Save now, with the "
    "tools offered, every fact, decision, name, number, date, preference and commitment "
    "from it that must not be lost. Call the tools in this answer; when nothing needs "
    "saving, answer DONE.")
SUMMARY_SYSTEM = (
    "You compact an agent's conversation into its memory. Write a concise summary in plain "
    "sentences that keeps every fact, decision, name, number, date, preference, open "
    "question and commitment, who said what where it matters, and what the agent did and "
    "promised. Leave out small talk. Answer with the summary only.")


# -- events -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CompactionEvent:
    """A session was compacted: which one, why (`threshold` or `overflow`), the turns the
    summary covers, the summary's turn number and the flush's outcome."""

    bot_id: str
    house_id: str
    room_id: str
    session_id: str
    session_key: str
    activation_id: str
    reason: str
    covers_from: int
    covers_to: int
    summary_index: int
    flush: dict[str, Any]


Listener = Callable[[CompactionEvent], Awaitable[None]]


class CompactionEvents:
    """In-process listeners told of every compaction (crews subscribe here)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` after each compaction; returns what unsubscribes it."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def emit(self, event: CompactionEvent) -> None:
        """Tell every listener; a listener that fails is logged and the others still hear."""
        for listener in list(self._listeners):
            try:
                await listener(event)
            except Exception:
                log.exception("a compaction listener failed for session %s", event.session_key)


# -- sizes and pruning ------------------------------------------------------------------


def context_tokens(turns: Sequence[ChatMessage]) -> int:
    """The estimated size of turns."""
    return sum(turn_tokens(t) for t in turns)


def fixed_tokens(system: str, tools: Sequence[ToolSpec]) -> int:
    """What every request carries besides its turns: the system prompt and tool specs."""
    specs = sum(len(t.name) + len(t.description) + len(json.dumps(t.parameters)) for t in tools)
    return estimate_tokens(system) + specs // 4


def prune(turns: Sequence[ChatMessage], window: int, settings: PruningSettings
          ) -> list[ChatMessage]:
    """Old tool results cut down in the context: results after the last
    `keep_last_assistants` assistant turns stay whole; past `soft_trim_ratio` of the window,
    long older results keep their head and tail; past `hard_clear_ratio`, older results are
    replaced by the placeholder, oldest first, until the context is under that ratio."""
    out = list(turns)
    if not settings.enabled or window <= 0:
        return out
    seen, protect_from = 0, 0
    for i in range(len(out) - 1, -1, -1):
        if out[i].role == "assistant":
            seen += 1
            if seen == settings.keep_last_assistants:
                protect_from = i
                break
    else:
        if settings.keep_last_assistants > 0:
            return out  # fewer assistant turns than kept: nothing is old enough
        protect_from = len(out)
    prunable = [i for i in range(protect_from) if out[i].role == "tool"]
    size = context_tokens(out)
    if size >= settings.soft_trim_ratio * window:
        limit = settings.soft_trim_max_chars
        head, tail = settings.soft_trim_head_chars, settings.soft_trim_tail_chars
        for i in prunable:
            text = out[i].content
            if len(text) > limit and len(text) > head + tail:
                cut = len(text) - head - tail
                trimmed = (f"{text[:head]}\n…[{cut} characters trimmed]…\n"
                           f"{text[len(text) - tail:] if tail else ''}")
                out[i] = _with_content(out[i], trimmed)
        size = context_tokens(out)
    if settings.hard_clear and size >= settings.hard_clear_ratio * window:
        for i in prunable:
            if size < settings.hard_clear_ratio * window:
                break
            before = turn_tokens(out[i])
            out[i] = _with_content(out[i], settings.hard_clear_placeholder)
            size -= before - turn_tokens(out[i])
    return out


def _with_content(turn: ChatMessage, content: str) -> ChatMessage:
    return ChatMessage(turn.role, content, turn.tool_calls, turn.tool_call_id, turn.name)


def over_threshold(context: Sequence[ChatMessage], fixed: int, max_tokens: int, window: int,
                   settings: CompactionSettings) -> bool:
    """Whether the request would leave less than `reserve_tokens` of the window free."""
    return fixed + max_tokens + context_tokens(context) + settings.reserve_tokens > window


def split_turns(turns: Sequence[StoredTurn], keep_tokens: int
                ) -> tuple[StoredTurn | None, list[StoredTurn], list[StoredTurn]]:
    """The summary in force, the turns to compact, and the newest turns kept as they are:
    as many as fit `keep_tokens`, starting at a user turn (a tool result never loses its
    call), and always from the newest user turn on."""
    summary = turns[0] if turns and turns[0].role == "summary" else None
    rest = list(turns[1:] if summary is not None else turns)
    users = [i for i, t in enumerate(rest) if t.role == "user"]
    if not users:
        return summary, [], rest
    cut, size = users[-1], sum(t.tokens for t in rest[users[-1]:])
    for start in reversed(users[:-1]):
        extra = sum(t.tokens for t in rest[start:cut])
        if size + extra > keep_tokens:
            break
        cut, size = start, size + extra
    return summary, rest[:cut], rest[cut:]


def transcript(turns: Sequence[StoredTurn]) -> list[str]:
    """Turns as lines a model can read back: who spoke, what tools were called and gave."""
    lines: list[str] = []
    for turn in turns:
        msg = turn.message
        text = msg.content if len(msg.content) <= TRANSCRIPT_TURN_CHARS else (
            msg.content[:TRANSCRIPT_TURN_CHARS] + "…")
        if turn.role == "summary":
            lines.append(f"[turns {turn.covers_from}-{turn.covers_to}, summarized] {text}")
        elif msg.role == "user":
            lines.append(f"[{turn.index}] {text}")
        elif msg.role == "tool":
            lines.append(f"[{turn.index}] (tool {msg.name} returned) {text}")
        else:
            calls = "; ".join(f"{c.name}({json.dumps(dict(c.arguments), ensure_ascii=False)})"
                              for c in msg.tool_calls)
            said = f" {text}" if text else ""
            called = f" (called {calls})" if calls else ""
            lines.append(f"[{turn.index}] you:{said}{called}")
    return lines


def fit_lines(lines: Sequence[str], budget_tokens: int) -> list[str]:
    """The newest lines that fit the budget (at least one, cut to fit)."""
    kept: list[str] = []
    size = 0
    for line in reversed(lines):
        cost = estimate_tokens(line)
        if kept and size + cost > budget_tokens:
            break
        kept.append(line if cost <= budget_tokens else line[: budget_tokens * 4])
        size += cost
    kept.reverse()
    return kept


def chunk_lines(lines: Sequence[str], budget_tokens: int) -> list[list[str]]:
    """Lines in order, in chunks each within the budget (a line too long is cut)."""
    chunks: list[list[str]] = [[]]
    size = 0
    for line in lines:
        line = line if estimate_tokens(line) <= budget_tokens else line[: budget_tokens * 4]
        cost = estimate_tokens(line)
        if chunks[-1] and size + cost > budget_tokens:
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += cost
    return chunks


# -- the compactor ----------------------------------------------------------------------

CallModel = Callable[[ChatRequest], Awaitable[Completion]]


@dataclass
class FlushOutcome:
    """What the memory flush did: `saved` (with the calls), `nothing_saved`, `no_tools`
    (no memory or note tool offered) or `failed` (with the reason)."""

    status: str
    tools: list[str] = field(default_factory=list)
    saved: list[dict[str, Any]] = field(default_factory=list)
    reason: str | None = None


def flush_tools(toolbox: Toolbox) -> list[Tool]:
    """The tools a flush may use: the offered `memory` tools but memory_forget, or else the
    `/save` note."""
    offered = toolbox.offered
    memory = [t for t in offered if MEMORY_GROUP in t.groups and t.name not in NOT_IN_FLUSH]
    if memory:
        return memory
    group, name = NOTES_FALLBACK
    return [t for t in offered if group in t.groups and t.name == name]


@dataclass
class Compactor:
    """Runs the flush and the summary for one activation's session."""

    db: Database
    events: CompactionEvents
    call_model: CallModel
    toolbox: Toolbox
    run: ToolRun
    system: str
    window: int
    max_tokens: int
    session_id: str
    session_key: str
    bot_id: str
    house_id: str
    room_id: str
    activation_id: str
    model_calls: int = 0

    async def compact(self, turns: Sequence[StoredTurn], keep_tokens: int, reason: str
                      ) -> list[StoredTurn] | None:
        """Flush, then summarize the older turns; the new working turns (summary first), or
        None when there was nothing older to compact. The flush runs first always; a flush
        that fails is recorded and the compaction goes on. A summary that fails raises."""
        summary, old, kept = split_turns(turns, keep_tokens)
        if not old:
            return None
        flush = await self.flush(summary, old)
        record: dict[str, Any] = {"reason": reason, "at": utcnow().isoformat(),
                                  "covers": [old[0].index if summary is None
                                             else summary.covers_from, old[-1].index],
                                  "flush": asdict(flush)}
        try:
            text = await self.summarize(summary, old)
        except (ShoalError, ValueError) as exc:
            record["error"] = f"the summary failed: {getattr(exc, 'message', str(exc))}"
            await self._record(record)
            raise
        covers = (record["covers"][0], record["covers"][1])
        [stored] = await append_turns(self.db, self.session_id, [ChatMessage("user", text)],
                                      activation_id=self.activation_id, summary_of=covers)
        record["summary_turn"] = stored.index
        await self._record(record)
        log.info("compacted session %s of bot %s: turns %d-%d into turn %d (%s); flush %s",
                 self.session_key, self.bot_id, covers[0], covers[1], stored.index, reason,
                 flush.status)
        await self.events.emit(CompactionEvent(
            self.bot_id, self.house_id, self.room_id, self.session_id, self.session_key,
            self.activation_id, reason, covers[0], covers[1], stored.index, asdict(flush)))
        return [stored, *kept]

    async def flush(self, summary: StoredTurn | None, old: Sequence[StoredTurn]) -> FlushOutcome:
        """One model turn offered only the memory tools, over the turns about to leave the
        context; its tool calls run through the registry's one path."""
        tools = flush_tools(self.toolbox)
        if not tools:
            return FlushOutcome("no_tools", reason="no memory tool and no /save note tool is "
                                                   "offered to this agent here")
        specs = [ToolSpec(t.name, t.description, t.parameters) for t in tools]
        names = [t.name for t in tools]
        budget = (self.window - self.max_tokens - fixed_tokens(self.system, specs)
                  - estimate_tokens(FLUSH_PROMPT) - 64)
        lines = fit_lines(transcript([*([summary] if summary else []), *old]), max(budget, 64))
        request = ChatRequest(
            [ChatMessage("user", "The conversation so far:\n" + "\n".join(lines)
                         + "\n\n" + FLUSH_PROMPT)],
            self.system, specs, max_tokens=self.max_tokens)
        try:
            self.model_calls += 1
            answer = await self.call_model(request)
        except ContextOverflow:
            return FlushOutcome("failed", names, reason="the flush request was too long for "
                                                        "the model")
        except ShoalError as exc:
            return FlushOutcome("failed", names, reason=exc.message[:300])
        if not answer.tool_calls:
            return FlushOutcome("nothing_saved", names)
        saved: list[dict[str, Any]] = []
        for call in answer.tool_calls:
            if call.name not in names:  # only the memory tools, whatever else it may use
                saved.append({"tool": call.name, "arguments": dict(call.arguments),
                              "status": "refused", "result": "not a memory tool"})
                continue
            result = await self.toolbox.call(call, self.run)
            status = self.toolbox.calls[-1]["status"] if self.toolbox.calls else "done"
            saved.append({"tool": call.name, "arguments": dict(call.arguments),
                          "status": status, "result": result[:300]})
        if not any(s["status"] == "done" for s in saved):
            return FlushOutcome("failed", names, saved, "every save the model tried failed")
        return FlushOutcome("saved", names, saved)

    async def summarize(self, summary: StoredTurn | None, old: Sequence[StoredTurn]) -> str:
        """The model's summary of the earlier summary and the older turns; in several calls
        (each folding in the last) only when they do not fit one request."""
        budget = max(self.window - SUMMARY_MAX_TOKENS - estimate_tokens(SUMMARY_SYSTEM) - 200,
                     256)
        running = summary.message.content if summary is not None else ""
        for chunk in chunk_lines(transcript(old), budget - estimate_tokens(running)):
            earlier = f"The summary so far:\n{running}\n\n" if running else ""
            request = ChatRequest(
                [ChatMessage("user", f"{earlier}The conversation to add to it:\n"
                                     + "\n".join(chunk))],
                SUMMARY_SYSTEM, (), max_tokens=SUMMARY_MAX_TOKENS)
            self.model_calls += 1
            answer = await self.call_model(request)
            if not answer.text.strip():
                raise ValueError("the model gave an empty summary")
            running = answer.text.strip()
        return running

    async def _record(self, record: dict[str, Any]) -> None:
        try:
            async with self.db.write() as session:
                row = await session.get(Activation, self.activation_id)
                if row is not None:
                    payload = dict(row.payload or {})
                    payload["compactions"] = [*payload.get("compactions", []), record]
                    row.payload = payload
        except Exception:
            log.exception("could not record the compaction of activation %s",
                          self.activation_id)
