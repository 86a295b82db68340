"""The builtin runtime: a bot thinks with its own model and prompt, calls the tools its
policy offers (slash commands, Shoal's own, MCP servers'), and posts one reply (or nothing,
or a short error) per activation."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

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
from shoal.runtime.base import Outcome
from shoal.runtime.context import (
    build_context,
    compact,
    estimate_tokens,
    fetch_context,
    guard_context,
    turns_to_json,
)
from shoal.runtime.images import show_images
from shoal.runtime.prompt import build_system_prompt
from shoal.runtime.reasoning import (
    reasoning_section,
    split_thinking,
    thinking_level,
    visible_only,
)
from shoal.runtime.runlog import ActivationRun, TextSink
from shoal.store.tables import Activation
from shoal.tools.base import ToolScope

if TYPE_CHECKING:
    from shoal.config import Settings
    from shoal.crypto import SecretBox
    from shoal.llm import AgentAccess, ModelRouter
    from shoal.rooms.chat import Chat
    from shoal.runs.service import RunService
    from shoal.runtime.base import ActivationContext
    from shoal.store import Database
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

    async def _run(self, ctx: ActivationContext, tally: Tally, run: ActivationRun) -> Outcome:
        router = self.models()
        defaults = LLMConfig.parse(self.settings.llm)
        chain = model_chain(ctx.config.model.primary, ctx.config.model.fallbacks,
                            defaults.primary, defaults.fallbacks)
        house_models = HouseModels(ctx.house.settings.get("models") or {}, router.catalog)
        resolved = router.resolve_chain(chain, house_models)
        access = ctx.config.model_access(ctx.bot.id, self.secrets)
        layers = self.tools.layers(str(resolved[0].ref), ctx.house.settings or {},
                                   ctx.config.tools)
        toolbox = tally.toolbox = await self.tools.toolbox(
            ToolScope(ctx.bot, ctx.house.id, ctx.room.id), layers)
        tools = toolbox.specs()
        system = build_system_prompt(ctx.house, ctx.bot, ctx.config, toolbox.prompt_specs(),
                                     room=ctx.room, model=str(resolved[0].ref))
        thinking = thinking_level(ctx, self.settings)
        if section := reasoning_section(thinking, resolved[0].info.reasoning):
            system = f"{system}\n\n{section}"
        payload = ctx.activation.payload or {}
        # A cron turn is an isolated session: the prompt alone, unless it asked for the room.
        views, runs = ([], []) if payload.get("isolated") else await fetch_context(self.db, ctx)
        # Without tools to declare, earlier tool turns would make some providers refuse.
        turns = build_context(views, ctx.bot.id, runs if tools else ())
        if ctx.trigger is None and not ctx.inputs:
            turns.append(ChatMessage("user", payload.get("prompt") or CHECK_IN_PROMPT))
        window = min(r.info.context_window for r in resolved)
        turns = guard_context(turns, window - MAX_TOKENS - _fixed_tokens(system, tools))
        turns, chain = await show_images(ctx, turns, chain, router, house_models, defaults,
                                         self.chat.attachments)

        compacted = False
        for step in range(MAX_STEPS):
            # A model boundary: honour a stop, and take an adjustment as the next user turn.
            for interrupt in await run.interrupts():
                if interrupt["action"] == "stop":
                    ctx.interrupted.set()
                else:
                    tally.tool_turns.append(ChatMessage("user", interrupt["message"]))
            if ctx.interrupted.is_set():
                return tally.outcome("skipped", skip_reason="interrupted")
            request = ChatRequest([*turns, *tally.tool_turns], system, tools,
                                  max_tokens=MAX_TOKENS, thinking=thinking)
            try:
                answer = await self._call(router, request, chain, house_models, ctx.house.id,
                                          visible_only(run.text_stream(step)), access)
            except ContextOverflow:
                if compacted or len(turns) < 2:
                    raise RunFailed("the conversation is too long for the model") from None
                compacted, turns = True, compact(turns)
                continue
            tally.add(answer)
            if answer.reasoning:  # the model's own: shown in the run, never in the room
                await run.reasoning(step, answer.reasoning)
            if ctx.interrupted.is_set():
                return tally.outcome("skipped", skip_reason="interrupted")
            if not answer.tool_calls:
                return await self._answer(ctx, tally, answer.text, run, step)
            tally.tool_turns.append(ChatMessage(
                "assistant", answer.text, tuple(answer.tool_calls), reasoning=answer.reasoning,
                reasoning_signature=answer.reasoning_signature))
            for call in answer.tool_calls:
                result = await toolbox.call(call, run)
                tally.tool_turns.append(ChatMessage("tool", result, tool_call_id=call.id,
                                                    name=call.name))
            await ctx.thinking(True, "thinking")
            await run.status("thinking")
        raise RunFailed(f"it was still calling tools after {MAX_STEPS} steps")

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
        text, reasoning = split_thinking(text)
        if reasoning:
            await run.reasoning(step, reasoning)
        text = text.strip()
        if is_silent(text):
            return tally.outcome("skipped", skip_reason="silent")
        if not text:
            raise RunFailed("the model gave an empty answer")
        limit = self.settings.max_content_chars
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        if (ctx.activation.payload or {}).get("deliver") is False:
            await self._keep_output(ctx, text)  # a silent cron job: the log keeps the answer
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
