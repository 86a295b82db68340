"""The builtin runtime: a bot thinks with its own model and prompt, calls the tools its
policy offers (slash commands, Shoal's own, MCP servers'), and posts one reply (or nothing,
or a short error) per activation."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import select

from shoal.agents.config import load_config
from shoal.errors import LeaseLost, ShoalError
from shoal.llm import (
    CHECK_IN_PROMPT,
    AllModelsFailed,
    ChatMessage,
    ChatRequest,
    Completion,
    ContextOverflow,
    HouseModels,
    LLMConfig,
    TextDelta,
    ToolSpec,
    is_silent,
    model_chain,
)
from shoal.runs.tables import Run
from shoal.runtime.base import Outcome
from shoal.runtime.context import (
    build_context,
    compact,
    estimate_tokens,
    fetch_context,
    guard_context,
    turns_to_json,
)
from shoal.runtime.prompt import build_system_prompt
from shoal.runtime.runlog import ActivationRun, TextSink
from shoal.store.tables import Activation, User, utcnow
from shoal.subagents.child import (
    child_prompt_sections,
    child_turns,
    result_turns,
    still_live,
    subagent_of,
)
from shoal.subagents.lifecycle import RESULT, SUBAGENT, TIMED_OUT
from shoal.tools.base import ToolScope

if TYPE_CHECKING:
    from shoal.agents.config import ToolPolicy
    from shoal.config import Settings
    from shoal.crypto import SecretBox
    from shoal.llm import AgentAccess, ModelRouter
    from shoal.rooms.chat import Chat
    from shoal.runs.service import RunService
    from shoal.runtime.base import ActivationContext
    from shoal.store import Database
    from shoal.subagents.tables import Subagent
    from shoal.tools.registry import Toolbox, ToolRegistry

log = logging.getLogger("shoal.runtime")

MAX_STEPS = 12  # model calls per activation; a bot that keeps calling tools is stopped
MAX_TOKENS = 1024
MAX_REASON_CHARS = 300


class RunFailed(Exception):
    """The activation cannot produce an answer; the message is shown in the room."""


@dataclass
class Tally:
    """Tokens summed over every model call of one activation, and the model that answered."""

    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    tool_turns: list[ChatMessage] = field(default_factory=list)
    toolbox: Toolbox | None = None  # its calls go in the activation's record
    child: Subagent | None = None  # the sub-agent this activation runs, if it is one

    def add(self, answer: Completion) -> None:
        """Count one model call."""
        self.model = answer.model or self.model
        if answer.usage is not None:
            self.input_tokens += answer.usage.input_tokens
            self.output_tokens += answer.usage.output_tokens

    def outcome(self, outcome: str, *, skip_reason: str | None = None,
                error: str | None = None, reply_message_id: str | None = None) -> Outcome:
        """The activation's outcome with this tally's model and tokens."""
        return Outcome(outcome, skip_reason, self.model, self.input_tokens,
                       self.output_tokens, error, reply_message_id)


class BuiltinRuntime:
    """Runs `builtin` bots: prompt, context, model, tool loop, one reply."""

    def __init__(self, db: Database, chat: Chat, runs: RunService, tools: ToolRegistry,
                 models: Callable[[], ModelRouter], secrets: SecretBox, settings: Settings
                 ) -> None:
        self.db = db
        self.chat = chat
        self.runs = runs
        self.tools = tools
        self.models = models  # asked at each run: the process builds its router at start
        self.secrets = secrets
        self.settings = settings

    async def run(self, ctx: ActivationContext) -> Outcome:
        """Run one activation; a failure becomes a short message in the room, never a raise."""
        tally = Tally()
        run = ActivationRun(self.runs, ctx)
        try:
            await ctx.thinking(True, "thinking")
            if ctx.activation.trigger_kind == SUBAGENT:
                outcome = await self._run_child(ctx, tally, run)
            else:
                outcome = await self._run(ctx, tally, run)
        except RunFailed as exc:
            outcome = await self._fail(ctx, tally, str(exc))
        except LeaseLost as exc:  # another worker runs it now and answers for it
            outcome = tally.outcome("error", error=exc.message)
        except ShoalError as exc:
            outcome = await self._fail(ctx, tally, _short(exc))
        except Exception:
            log.exception("activation %s of @%s failed unexpectedly", ctx.activation.id,
                          ctx.bot.username)
            outcome = await self._fail(ctx, tally, "an internal error; the server logged it")
        finally:
            if tally.tool_turns or (tally.toolbox is not None and tally.toolbox.calls):
                await self._save_tools(ctx, tally)
            await ctx.thinking(False)
        await run.close(outcome)
        return outcome

    async def _run_child(self, ctx: ActivationContext, tally: Tally, run: ActivationRun
                         ) -> Outcome:
        """A sub-agent's run: closed at once if it was killed while waiting; bounded by its
        deadline (run_timeout_seconds from its start)."""
        tally.child = child = await subagent_of(self.db, ctx.activation)
        if child is None or not child.live:
            return tally.outcome("skipped", skip_reason="interrupted")
        # A child's work is always a run people can watch, shown inside its parent's run.
        await run.open(description=child.task, extra={
            "subagentId": child.id, "label": child.label,
            "parentRunId": await self._run_of(child.parent_activation_id)})
        if child.deadline_at is None:
            return await self._run(ctx, tally, run)
        remaining = (child.deadline_at - utcnow()).total_seconds()
        try:
            async with asyncio.timeout(max(remaining, 0.0)):
                return await self._run(ctx, tally, run)
        except TimeoutError:
            return tally.outcome("error", error=TIMED_OUT)

    async def _run(self, ctx: ActivationContext, tally: Tally, run: ActivationRun) -> Outcome:
        router = self.models()
        defaults = LLMConfig.parse(self.settings.llm)
        child = tally.child
        primary = (child.model if child is not None and child.model else
                   ctx.config.model.primary)
        chain = model_chain(primary, ctx.config.model.fallbacks,
                            defaults.primary, defaults.fallbacks)
        house_models = HouseModels(ctx.house.settings.get("models") or {}, router.catalog)
        resolved = router.resolve_chain(chain, house_models)
        access = ctx.config.model_access(ctx.bot.id, self.secrets)
        parent = await self._parent_of(child) if child is not None else None
        layers = self.tools.layers(
            str(resolved[0].ref), ctx.house.settings or {}, ctx.config.tools,
            parent=load_parent_tools(parent) if parent is not None and parent.id != ctx.bot.id
            else None, subagent=child is not None)
        toolbox = tally.toolbox = await self.tools.toolbox(
            ToolScope(ctx.bot, ctx.house.id, ctx.room.id, ctx.activation.id), layers)
        tools = toolbox.specs()
        system = build_system_prompt(ctx.house, ctx.bot, ctx.config, toolbox.prompt_specs(),
                                     room=ctx.room, model=str(resolved[0].ref),
                                     mode="minimal" if child is not None else "full")
        payload = ctx.activation.payload or {}
        if child is not None:  # isolated: the task alone, never the room's history
            system = f"{system}\n\n{child_prompt_sections(child, parent, ctx.room)}"
            turns = child_turns(child)
        else:
            turns = await self._turns(ctx, payload, bool(tools))
        window = min(r.info.context_window for r in resolved)
        turns = guard_context(turns, window - MAX_TOKENS - _fixed_tokens(system, tools))

        compacted = False
        for step in range(MAX_STEPS):
            # A model boundary: honour a stop, and take an adjustment as the next user turn.
            for interrupt in await run.interrupts():
                if interrupt["action"] == "stop":
                    ctx.interrupted.set()
                else:
                    tally.tool_turns.append(ChatMessage("user", interrupt["message"]))
            if child is not None and not await still_live(self.db, child.id):
                ctx.interrupted.set()  # killed from elsewhere (a person, its parent)
            if ctx.interrupted.is_set():
                return tally.outcome("skipped", skip_reason="interrupted")
            request = ChatRequest([*turns, *tally.tool_turns], system, tools,
                                  max_tokens=MAX_TOKENS)
            try:
                answer = await self._call(router, request, chain, house_models, ctx.house.id,
                                          run.text_stream(step), access)
            except ContextOverflow:
                if compacted or len(turns) < 2:
                    raise RunFailed("the conversation is too long for the model") from None
                compacted, turns = True, compact(turns)
                continue
            tally.add(answer)
            if ctx.interrupted.is_set():
                return tally.outcome("skipped", skip_reason="interrupted")
            if not answer.tool_calls:
                return await self._answer(ctx, tally, answer.text, run, step)
            tally.tool_turns.append(ChatMessage("assistant", answer.text,
                                                tuple(answer.tool_calls)))
            for call in answer.tool_calls:
                result = await toolbox.call(call, run)
                tally.tool_turns.append(ChatMessage("tool", result, tool_call_id=call.id,
                                                    name=call.name))
            await ctx.thinking(True, "thinking")
            await run.status("thinking")
        raise RunFailed(f"it was still calling tools after {MAX_STEPS} steps")

    async def _turns(self, ctx: ActivationContext, payload: dict[str, object], tools: bool
                     ) -> list[ChatMessage]:
        """The conversation of an agent's own activation: the room's, or a cron turn's
        prompt alone; a parent hearing a child's end gets it as a tool result last."""
        # A cron turn is an isolated session: the prompt alone, unless it asked for the room.
        views, runs = ([], []) if payload.get("isolated") else await fetch_context(self.db, ctx)
        # Without tools to declare, earlier tool turns would make some providers refuse.
        turns = build_context(views, ctx.bot.id, runs if tools else ())
        if ctx.activation.trigger_kind == RESULT:
            child = await subagent_of(self.db, ctx.activation)
            if child is not None:
                turns.extend(await result_turns(self.db, child))
                return turns
        if ctx.trigger is None and not ctx.inputs:
            prompt = payload.get("prompt")
            turns.append(ChatMessage("user", prompt if isinstance(prompt, str) and prompt
                                     else CHECK_IN_PROMPT))
        return turns

    async def _run_of(self, activation_id: str | None) -> str | None:
        if activation_id is None:
            return None
        async with self.db.read() as session:
            return await session.scalar(select(Run.id).where(
                Run.activation_id == activation_id))

    async def _parent_of(self, child: Subagent) -> User | None:
        async with self.db.read() as session:
            return await session.get(User, child.parent_bot_id)

    async def _call(self, router: ModelRouter, request: ChatRequest, chain: list[str],
                    house_models: HouseModels, house_id: str, on_text: TextSink | None,
                    access: AgentAccess | None) -> Completion:
        answer = Completion()
        async for event in router.stream(request, chain, house=house_models,
                                         house_id=house_id, agent=access):
            answer.add(event)
            if on_text is not None and isinstance(event, TextDelta):
                await on_text(event.text, answer.text)
        return answer

    async def _answer(self, ctx: ActivationContext, tally: Tally, text: str,
                      run: ActivationRun, step: int) -> Outcome:
        text = text.strip()
        if is_silent(text):
            return tally.outcome("skipped", skip_reason="silent")
        if not text:
            raise RunFailed("the model gave an empty answer")
        limit = self.settings.max_content_chars
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        if tally.child is not None or (ctx.activation.payload or {}).get("deliver") is False:
            # A child's answer goes to its parent through its end; a silent cron job's stays
            # in the log.
            await self._keep_output(ctx, text)
            if tally.child is not None:
                await run.keep(step, text)
            return tally.outcome("replied")
        if run.run_id is None:
            posted = await ctx.reply(text)
        else:
            posted = await run.reply(step, text, ctx.reply_metadata())
        return tally.outcome("replied", reply_message_id=posted["id"])

    async def _keep_output(self, ctx: ActivationContext, text: str) -> None:
        async with self.db.write() as session:
            row = await session.get(Activation, ctx.activation.id)
            if row is not None:
                row.payload = {**(row.payload or {}), "output": text}

    async def _fail(self, ctx: ActivationContext, tally: Tally, reason: str) -> Outcome:
        log.warning("activation %s of @%s in room %s failed: %s", ctx.activation.id,
                    ctx.bot.username, ctx.room.id, reason)
        if tally.child is not None:  # its parent hears the reason, the room does not
            return tally.outcome("error", error=reason)
        try:
            # No @handle here: a system message mentioning the bot would wake it again.
            await self.chat.post_system(
                ctx.room.id, f"{ctx.bot.display_name} could not answer: {reason}",
                sender_name=ctx.bot.display_name,
                metadata={"error": True, "activation_id": ctx.activation.id})
        except ShoalError as exc:
            log.warning("could not post the error of activation %s: %s", ctx.activation.id,
                        exc.message)
        return tally.outcome("error", error=reason)

    async def _save_tools(self, ctx: ActivationContext, tally: Tally) -> None:
        # The tool turns (the next activation's memory) and each call's name, duration and
        # status (the activation log's), merged into the stored payload, whatever the worker
        # keeps there. A failure here is logged, not raised: it costs only the record.
        tools = {"tool_turns": turns_to_json(tally.tool_turns)} if tally.tool_turns else {}
        if tally.toolbox is not None and tally.toolbox.calls:
            tools["tools"] = tally.toolbox.calls
        try:
            async with self.db.write() as session:
                row = await session.get(Activation, ctx.activation.id)
                if row is not None:
                    row.payload = {**(row.payload or {}), **tools}
        except Exception:
            log.exception("could not save the tool calls of activation %s", ctx.activation.id)


def load_parent_tools(parent: User) -> ToolPolicy:
    """The tool policy of the agent that spawned a child as another agent."""
    return load_config(parent.config).tools


def _fixed_tokens(system: str, tools: list[ToolSpec]) -> int:
    specs = sum(len(t.name) + len(t.description) + len(json.dumps(t.parameters)) for t in tools)
    return estimate_tokens(system) + specs // 4


def _short(exc: ShoalError) -> str:
    if isinstance(exc, AllModelsFailed) and exc.attempts:
        reason = "every model failed: " + "; ".join(f"{a.model}: {a.reason}"
                                                    for a in exc.attempts)
    else:
        reason = exc.message
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"
