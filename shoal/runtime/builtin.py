"""The builtin runtime: a bot thinks with its own model and prompt, calls the tools its
policy offers (slash commands, Shoal's own, MCP servers'), and posts one reply (or nothing,
or a short error) per activation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
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
    ReasoningDelta,
    TextDelta,
    is_silent,
    model_chain,
)
from shoal.runs.tables import Run
from shoal.runtime.base import Outcome
from shoal.runtime.compaction import (
    SUMMARY_MAX_TOKENS,
    CompactionEvents,
    Compactor,
    context_tokens,
    fixed_tokens,
    over_threshold,
    prune,
)
from shoal.runtime.context import guard_context
from shoal.runtime.images import load_images
from shoal.runtime.prompt import build_system_prompt
from shoal.runtime.reasoning import (
    reasoning_section,
    split_thinking,
    think_stream,
    thinking_level,
)
from shoal.runtime.runlog import HANDED_BACK, ActivationRun, TextSink
from shoal.runtime.sessions import (
    StoredTurn,
    append_turns,
    context_of,
    open_session,
    parse_session_key,
    session_key,
    sync_room,
    turns_after,
    working_turns,
)
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
    from shoal.runtime.session_tables import AgentSession
    from shoal.store import Database
    from shoal.subagents.tables import Subagent
    from shoal.tools.registry import Toolbox, ToolRegistry

log = logging.getLogger("shoal.runtime")

MAX_STEPS = 12  # model calls per activation; a bot that keeps calling tools is stopped
MAX_TOKENS = 1024
MAX_REASON_CHARS = 300
MAX_COMPACTIONS = 2  # per activation: a context still too long after two is an error


# Adds turns to the activation's session (and to its working turns).
SaveTurns = Callable[..., Awaitable[None]]


class RunFailed(Exception):
    """The activation cannot produce an answer; the message is shown in the room."""


@dataclass
class Tally:
    """Tokens summed over every model call of one activation, and the model that answered."""

    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
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
                 models: Callable[[], ModelRouter], secrets: SecretBox, settings: Settings,
                 *, compactions: CompactionEvents | None = None) -> None:
        self.db = db
        self.chat = chat
        self.runs = runs
        self.tools = tools
        self.models = models  # asked at each run: the process builds its router at start
        self.secrets = secrets
        self.settings = settings
        self.compactions = compactions or CompactionEvents()  # told of every compaction

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
        except asyncio.CancelledError:  # its worker is stopping and hands it back
            await run.close(tally.outcome("skipped", skip_reason=HANDED_BACK))
            raise
        finally:
            if tally.toolbox is not None and tally.toolbox.calls:
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
        if child is not None:  # isolated: its task alone, never the room's history
            system = f"{system}\n\n{child_prompt_sections(child, parent, ctx.room)}"
        thinking = thinking_level(ctx, self.settings)
        if section := reasoning_section(thinking, resolved[0].info.reasoning):
            system = f"{system}\n\n{section}"
        # The images of the waking message and of those since the agent last spoke, read
        # once, and the chain that can see them.
        images, seeing = await load_images(ctx, chain, router, house_models, defaults,
                                           self.chat.attachments, self.db,
                                           recent=child is None)
        agent_session = await self._open_session(ctx, child)
        stored = await self._take_in(ctx, agent_session, child)
        checked = max((t.index for t in stored), default=0)  # see pushed_turns
        window = min(r.info.context_window for r in resolved)
        fixed = fixed_tokens(system, tools)
        compaction = ctx.config.compaction_settings(self.settings.compaction)
        pruning = ctx.config.pruning_settings(self.settings.pruning)
        # What a compaction keeps as it is: at most the history share of the window, and
        # little enough that the summary and the kept turns leave the reserve free.
        keep = max(0, min(int(compaction.max_history_share * window),
                          window - compaction.reserve_tokens - fixed - MAX_TOKENS
                          - SUMMARY_MAX_TOKENS))

        async def call_model(request: ChatRequest) -> Completion:
            answer = await self._call(router, request, chain, house_models, ctx.house.id,
                                      None, access)
            tally.add(answer)
            return answer

        compactor = Compactor(self.db, self.compactions, call_model, toolbox, run, system,
                              window, MAX_TOKENS, agent_session.id, agent_session.key,
                              ctx.bot.id, ctx.house.id, ctx.room.id, ctx.activation.id)
        # Compactions done here; whether the threshold's compaction could do nothing (it is
        # not tried again); the overflow path's last resort, a smaller context budget.
        compactions, stuck, trim_to = 0, False, None

        async def save(*turns: ChatMessage, message_id: str | None = None) -> None:
            stored.extend(await append_turns(
                self.db, agent_session.id, turns, activation_id=ctx.activation.id,
                message_ids=[message_id] * len(turns) if message_id else None))

        for step in range(MAX_STEPS):
            # A model boundary: honour a stop, and take an adjustment as the next user turn.
            for interrupt in await run.interrupts():
                if interrupt["action"] == "stop":
                    ctx.interrupted.set()
                else:
                    await save(ChatMessage("user", interrupt["message"]))
            if child is not None and not await still_live(self.db, child.id):
                ctx.interrupted.set()  # killed from elsewhere (a person, its parent)
            if ctx.interrupted.is_set():
                return tally.outcome("skipped", skip_reason="interrupted")
            pushed, checked = await pushed_turns(self.db, agent_session.id, stored, checked)
            stored.extend(pushed)
            turns = prune(context_of(images.onto(stored), with_tools=bool(tools)), window,
                          pruning)
            if (compactions < MAX_COMPACTIONS and not stuck
                    and over_threshold(turns, fixed, MAX_TOKENS, window, compaction)):
                stored, done = await self._compact(ctx, compactor, stored, keep, "threshold")
                compactions, stuck = compactions + int(done), not done
                # What a compaction's listeners add (a crew's refresh) comes into this call.
                pushed, checked = await pushed_turns(self.db, agent_session.id, stored,
                                                     checked)
                stored.extend(pushed)
                turns = prune(context_of(images.onto(stored), with_tools=bool(tools)),
                              window, pruning)
            # The last resort, in the context only: the newest turns that fit.
            budget = window - MAX_TOKENS - fixed
            turns = guard_context(turns, min(budget, trim_to) if trim_to else budget)
            request = ChatRequest(turns, system, tools, max_tokens=MAX_TOKENS,
                                  thinking=thinking)
            try:
                answer = await self._call(
                    router, request, seeing, house_models, ctx.house.id,
                    think_stream(run.text_stream(step), run.reasoning_stream(step, think=True)),
                    access, run.reasoning_stream(step))
            except ContextOverflow:
                # The provider counts otherwise: flush, compact harder, and try again.
                if compactions >= MAX_COMPACTIONS or len(turns) < 2:
                    raise RunFailed("the conversation is too long for the model") from None
                compactions += 1
                size = context_tokens(turns)
                stored, done = await self._compact(ctx, compactor, stored,
                                                   min(keep, size // 2), "overflow")
                if not done or trim_to is not None:
                    trim_to = size // 2  # nothing more to compact: keep the newer half
                continue
            tally.add(answer)
            if answer.reasoning:  # the model's own: shown in the run, never in the room
                await run.reasoning(step, answer.reasoning)
            if answer.tool_calls and (thought := split_thinking(answer.text)[1]):
                await run.reasoning(step, thought, think=True)
            if ctx.interrupted.is_set():
                return tally.outcome("skipped", skip_reason="interrupted")
            if not answer.tool_calls:
                return await self._answer(ctx, tally, answer.text, run, step, save)
            results = []
            for call in answer.tool_calls:
                result = await toolbox.call(call, run)
                results.append(ChatMessage("tool", result, tool_call_id=call.id,
                                           name=call.name))
            await save(ChatMessage("assistant", answer.text, tuple(answer.tool_calls),
                                   reasoning=answer.reasoning,
                                   reasoning_signature=answer.reasoning_signature), *results)
            await ctx.thinking(True, "thinking")
            await run.status("thinking")
        raise RunFailed(f"it was still calling tools after {MAX_STEPS} steps")

    async def _open_session(self, ctx: ActivationContext, child: Subagent | None
                            ) -> AgentSession:
        """The session this activation works in: a sub-agent's own, a cron job's, else the
        agent's session of the room."""
        payload = ctx.activation.payload or {}
        key = payload.get("session_key")
        if child is not None:
            key = session_key("subagent", child.id)
        elif key is not None:
            if not isinstance(key, str) or parse_session_key(key)[0] != "subagent":
                raise RunFailed(f"its activation names a session that is not a sub-agent's "
                                f"({str(key)[:80]!r})")
        elif payload.get("cron_job_id"):
            key = session_key("cron", str(payload["cron_job_id"]))
        else:
            key = session_key("room", ctx.room.id)
        return await open_session(self.db, ctx.bot.id, ctx.house.id, ctx.room.id, key)

    async def _take_in(self, ctx: ActivationContext, agent_session: AgentSession,
                       child: Subagent | None) -> list[StoredTurn]:
        """Bring the session up to date: a sub-agent's task; the room's new messages (for a
        room session, and a cron job that asked for the room's history), or the prompt of a
        turn without a trigger; a parent hearing a child's end gets it as a tool result last.
        Then the working turns, the newest summary first."""
        payload = ctx.activation.payload or {}
        if child is not None:  # its task, once (a retried child resumes its session)
            stored = await working_turns(self.db, agent_session.id)
            if not stored:
                await append_turns(self.db, agent_session.id, child_turns(child),
                                   activation_id=ctx.activation.id)
            return await working_turns(self.db, agent_session.id)
        if agent_session.kind == "room" or (agent_session.kind == "cron"
                                            and not payload.get("isolated")):
            newest = ctx.inputs[-1] if ctx.inputs else (ctx.trigger or None)
            await sync_room(self.db, agent_session, ctx.room, ctx.bot.id, newest,
                            ctx.activation.id)
        if ctx.activation.trigger_kind == RESULT:
            ended = await subagent_of(self.db, ctx.activation)
            if ended is not None:
                stored = await working_turns(self.db, agent_session.id)
                told = f"subagent-{ended.id}"  # a retried follow-up is told once
                if not any(t.message.tool_call_id == told for t in stored):
                    await append_turns(self.db, agent_session.id,
                                       await result_turns(self.db, ended),
                                       activation_id=ctx.activation.id)
                return await working_turns(self.db, agent_session.id)
        if ctx.trigger is None and not ctx.inputs:
            prompt = payload.get("prompt")
            await append_turns(self.db, agent_session.id,
                               [ChatMessage("user", prompt if isinstance(prompt, str) and prompt
                                            else CHECK_IN_PROMPT)],
                               activation_id=ctx.activation.id)
        return await working_turns(self.db, agent_session.id)

    async def _run_of(self, activation_id: str | None) -> str | None:
        if activation_id is None:
            return None
        async with self.db.read() as session:
            return await session.scalar(select(Run.id).where(
                Run.activation_id == activation_id))

    async def _parent_of(self, child: Subagent) -> User | None:
        async with self.db.read() as session:
            return await session.get(User, child.parent_bot_id)

    async def _compact(self, ctx: ActivationContext, compactor: Compactor,
                       stored: list[StoredTurn], keep: int, reason: str
                       ) -> tuple[list[StoredTurn], bool]:
        """The working turns after a compaction, and whether it compacted anything: not when
        there was nothing older to compact or the summary failed (the record says why)."""
        await ctx.thinking(True, "saving memory before compacting")
        try:
            compacted = await compactor.compact(stored, keep, reason)
        except (ShoalError, ValueError) as exc:
            log.warning("compaction of session %s failed: %s", compactor.session_key,
                        getattr(exc, "message", str(exc)))
            return stored, False
        finally:
            await ctx.thinking(True, "thinking")
        return (stored, False) if compacted is None else (compacted, True)

    async def _call(self, router: ModelRouter, request: ChatRequest, chain: list[str],
                    house_models: HouseModels, house_id: str, on_text: TextSink | None,
                    access: AgentAccess | None, on_reasoning: TextSink | None = None
                    ) -> Completion:
        answer = Completion()
        async for event in router.stream(request, chain, house=house_models,
                                         house_id=house_id, agent=access):
            answer.add(event)
            if on_text is not None and isinstance(event, TextDelta):
                await on_text(event.text, answer.text)
            elif on_reasoning is not None and isinstance(event, ReasoningDelta) and event.text:
                await on_reasoning(event.text, answer.reasoning)
        return answer

    async def _answer(self, ctx: ActivationContext, tally: Tally, text: str,
                      run: ActivationRun, step: int, save: SaveTurns) -> Outcome:
        text, reasoning = split_thinking(text)
        if reasoning:
            await run.reasoning(step, reasoning, think=True)
        text = text.strip()
        if is_silent(text):
            await save(ChatMessage("assistant", text))
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
            await save(ChatMessage("assistant", text))
            if tally.child is not None:
                await run.keep(step, text)
            return tally.outcome("replied")
        if run.run_id is None:
            posted = await ctx.reply(text)
        else:
            posted = await run.reply(step, text, ctx.reply_metadata())
        await save(ChatMessage("assistant", text), message_id=posted["id"])
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
        # Each call's name, duration and status (the activation log's), merged into the
        # stored payload, whatever the worker keeps there (the turns are in the session). A
        # failure here is logged, not raised: it costs only the record.
        tools = {"tools": tally.toolbox.calls} if tally.toolbox is not None else {}
        try:
            async with self.db.write() as session:
                row = await session.get(Activation, ctx.activation.id)
                if row is not None:
                    row.payload = {**(row.payload or {}), **tools}
        except Exception:
            log.exception("could not save the tool calls of activation %s", ctx.activation.id)


async def pushed_turns(db: Database, session_id: str, stored: list[StoredTurn], checked: int
                       ) -> tuple[list[StoredTurn], int]:
    """Turns others added to the session (a crew's CREW_UPDATE) numbered after `checked`, the
    newest number looked at so far, and the new such number: a running agent sees them at its
    next model call, after its own turns of the step (one added while the model answered is
    numbered before them)."""
    known = {t.index for t in stored}
    fresh = await turns_after(db, session_id, checked)
    return ([t for t in fresh if t.index not in known],
            max([checked, *(t.index for t in fresh)]))


def load_parent_tools(parent: User) -> ToolPolicy:
    """The tool policy of the agent that spawned a child as another agent."""
    return load_config(parent.config).tools


def _short(exc: ShoalError) -> str:
    if isinstance(exc, AllModelsFailed) and exc.attempts:
        reason = "every model failed: " + "; ".join(f"{a.model}: {a.reason}"
                                                    for a in exc.attempts)
    else:
        reason = exc.message
    return reason if len(reason) <= MAX_REASON_CHARS else reason[: MAX_REASON_CHARS - 1] + "…"
