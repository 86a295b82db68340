"""The services one Shoal process holds."""

from __future__ import annotations

import asyncio
import gc
import logging
from functools import partial

from shoal import __version__, metrics
from shoal.auth.passwords import Passwords
from shoal.auth.ratelimit import AttemptLimiter
from shoal.auth.tokens import Principal, find_token, needs_last_used_update, touch_token
from shoal.commands.builtins import register_builtins
from shoal.commands.custom import HouseCommands
from shoal.commands.registry import CommandRegistry
from shoal.commands.runner import CommandRunner
from shoal.config import Settings
from shoal.crew import heartbeat, refresh
from shoal.crew.activations import CrewActivations
from shoal.crew.activity import CrewFeed
from shoal.crew.commands import register_crew_commands
from shoal.crew.heartbeat import LeadHeartbeat
from shoal.crew.heartbeat_tools import HeartbeatTools
from shoal.crew.refresh import CrewRefresh
from shoal.crew.service import CrewService
from shoal.crew.sync import CrewSync
from shoal.crew.tools import CrewTools
from shoal.crew.work import CrewWork
from shoal.crypto import SecretBox
from shoal.dispatch.dispatcher import Dispatcher
from shoal.dispatch.interactions import Notice, stopped_notice
from shoal.files import LinkSigner, LocalFileStore
from shoal.hooks.inbound import HookService
from shoal.llm import LLMConfig, ModelRouter, build_router
from shoal.memory import Indexer, MemorySearch, PeopleSearch
from shoal.realtime.events import register_events
from shoal.realtime.gateway import Gateway
from shoal.realtime.reactions import register_reaction_events
from shoal.rooms.attachments import AttachmentRules, Attachments
from shoal.rooms.chat import Chat
from shoal.rooms.membership import Membership
from shoal.rooms.messages import Limits
from shoal.rooms.reactions import Reactions
from shoal.rooms.webhook_events import WebhookRoomEvents
from shoal.runs.service import RunService
from shoal.runs.socket import register_run_events
from shoal.runtime.builtin import BuiltinRuntime
from shoal.runtime.compaction import CompactionEvents
from shoal.runtime.sdk import SdkRuntime
from shoal.runtime.sessions import SessionTurnSearch
from shoal.runtime.webhook import WebhookRuntime
from shoal.runtime.worker import Worker
from shoal.scheduler.service import Scheduler
from shoal.schedules.commands import ScheduleControl, register_schedule_commands
from shoal.schedules.cron import CronKind
from shoal.schedules.heartbeats import HeartbeatKind
from shoal.store import Database, migrate
from shoal.store.migrate import current_revision, head_revision
from shoal.subagents.command import register_subagent_commands
from shoal.subagents.service import SubagentService
from shoal.subagents.tools import SessionTools
from shoal.tools.commands import CommandTools
from shoal.tools.mcp import MCPService
from shoal.tools.memory import MemoryTools
from shoal.tools.policy import ServerToolPolicy
from shoal.tools.registry import ToolRegistry
from shoal.tools.rooms import RoomTools
from shoal.tools.web import WebTools
from shoal.webhooks.service import Webhooks

log = logging.getLogger("shoal")


class Shoal:
    """Everything one process holds: settings, database, realtime gateway, command registry.
    Nothing here is needed by another process; shared state lives in the database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.resolved_database_url)
        self.secrets = SecretBox(settings.ensure_secret())
        self.limits = Limits(settings.max_content_chars, settings.max_metadata_bytes)
        self.auth_limiter = AttemptLimiter(settings.auth_attempts_per_minute)
        self.passwords = Passwords(settings.argon2_time_cost, settings.argon2_memory_kib)
        self.mcp = MCPService.from_settings(self.db, self.secrets, settings)
        self.commands = CommandRegistry()
        register_builtins(self.commands)
        register_schedule_commands(self.commands)
        register_subagent_commands(self.commands)
        self.commands.add_house_source(HouseCommands(self.db, settings))
        # Signed links to attached files, for receivers without a session (bots, webhooks).
        links = LinkSigner(settings.ensure_secret(), settings.attachment_link_seconds,
                           settings.base_url)
        self.gateway = Gateway(self.authenticate, redis_url=settings.redis_url,
                               redis_prefix=settings.redis_prefix,
                               allowed_origins=settings.allowed_origins,
                               max_body_bytes=settings.max_body_bytes, signer=links)
        self.dispatcher = Dispatcher(interaction_budget=settings.interaction_budget)
        # Files attached to messages: bytes under the data directory, signed links to them.
        self.files = LocalFileStore(settings.data_dir / "files")
        self.attachments = Attachments(
            self.db, self.files,
            AttachmentRules.parse(settings.attachment_max_bytes, settings.attachment_types),
            links)
        room_events = WebhookRoomEvents(self.attachments)
        self.membership = Membership(self.db, self.gateway, room_events)
        self.chat = Chat(self.db, self.gateway, self.limits, self.dispatcher, room_events,
                         members_changed=self.membership.notify_members,
                         attachments=self.attachments)
        # Shoal itself is the handlers' CommandServices: `models` is built only in start().
        self.command_runner = CommandRunner(self.db, self.commands, self.chat, self)
        register_events(self.gateway, self.db, self.chat, self.command_runner)
        self.reactions = Reactions(self.db, self.gateway)
        register_reaction_events(self.gateway, self.reactions)
        self.hooks = HookService(self.db, self.chat, self.gateway, self.secrets, self.limits,
                                 per_minute=settings.hook_messages_per_minute)
        self.runs = RunService(self.db, self.gateway, self.chat,
                               sweep_seconds=settings.run_sweep_seconds,
                               disconnect_grace_seconds=settings.run_disconnect_grace_seconds,
                               time_limit_seconds=settings.run_time_limit_seconds)
        register_run_events(self.gateway, self.runs, self.db, self.limits)
        self.models: ModelRouter  # built in start(): it reads stored keys and cooldowns
        # Agents' tools: one source per kind, the first added winning a name.
        self.tools = ToolRegistry(ServerToolPolicy.parse(settings.tools.policy_table))
        self.tools.add_source(CommandTools(
            self.db, self.commands, partial(self.command_runner.run_parsed, post_result=False)))
        self.web_tools = WebTools.from_settings(settings)
        self.tools.add_source(self.web_tools)
        self.tools.add_source(self.mcp)
        # Told of every session compaction (crews subscribe).
        self.compactions = CompactionEvents()
        self.memory = MemorySearch(self.db, settings.memory, lambda: self.models)
        self.indexer = Indexer(self.db, self.memory, settings.memory)
        self.people_search = PeopleSearch(self.memory)
        self.memory.sessions = SessionTurnSearch(self.db)  # memory_search's `sessions`
        self.tools.add_source(MemoryTools(self.db, self.memory, settings.memory))
        # The worker is built below; its wake is looked up when a spawn commits.
        self.subagents = SubagentService(self.db, self.chat, self.runs,
                                         wake=self._wake_worker, cancel=self._cancel_local,
                                         sweep_seconds=settings.run_sweep_seconds)
        self.tools.add_source(SessionTools(self.subagents))
        self.tools.add_source(RoomTools(self.db, self.reactions))
        # Crews: the feed tells rooms (and the CREW_UPDATE refresher) what changed.
        self.crew_feed = CrewFeed(self.db, self.gateway)
        self.crews = CrewService(self.db, self.crew_feed, models=lambda: self.models,
                                 wake=self._wake_worker,
                                 default_model=LLMConfig.parse(settings.llm).primary)
        self.crew_work = CrewWork(self.crews)
        self.tools.add_source(CrewTools(self.crews, self.crew_work))
        register_crew_commands(self.commands, self.crews, self.crew_work)
        self.crew_activations = CrewActivations(self.crews)
        self.dispatcher.tag_with(self.crew_activations.tag)
        builtin = BuiltinRuntime(self.db, self.chat, self.runs, self.tools, lambda: self.models,
                                 self.secrets, settings, compactions=self.compactions)
        webhook = WebhookRuntime(self.db, self.chat, self.secrets, settings)
        self.worker = Worker(self.db, settings,
                             {"builtin": builtin, "webhook": webhook, "sdk": SdkRuntime()},
                             chat=self.chat, gateway=self.gateway, models=lambda: self.models)
        self.dispatcher.on_work(self.worker.wake)
        self.dispatcher.on_notice(self._post_stopped_notice)
        self.scheduler = Scheduler(self.db, settings)
        self.webhooks = Webhooks(self.db, self.chat, self.secrets, settings, self.scheduler)
        self.scheduler.handle("delivery", advance=self.webhooks.advance, fire=self.webhooks.fire)
        heartbeats = HeartbeatKind(self.db, self.chat)
        self.scheduler.handle("heartbeat", advance=heartbeats.advance, fire=heartbeats.fire)
        self.cron = CronKind(self.db, self.chat, self.scheduler, self.worker.wake)
        self.scheduler.handle("cron", advance=self.cron.advance, fire=self.cron.fire)
        self.schedules = ScheduleControl(self.db, self.scheduler, self.cron)
        # Crews: CREW_UPDATE refreshes and the lead's heartbeat run on the scheduler; the
        # crew service tells `crew_sync` of members joining and crews changing.
        self.crew_refresh = CrewRefresh(self.db)
        self.scheduler.handle(refresh.KIND, advance=self.crew_refresh.advance,
                              fire=self.crew_refresh.fire)
        self.compactions.subscribe(self.crew_refresh.compacted)
        self.lead_heartbeat = LeadHeartbeat(self.db, self.chat, self.worker.wake,
                                            self.crew_feed)
        self.scheduler.handle(heartbeat.KIND, advance=self.lead_heartbeat.advance,
                              fire=self.lead_heartbeat.fire)
        self.crew_sync = CrewSync(self.db, self.crew_refresh, self.scheduler.clock,
                                  self.scheduler.wake)
        self.crew_feed.listener = self.crew_sync
        self.tools.add_source(HeartbeatTools(self.crew_feed, self.scheduler.clock,
                                             self.scheduler.wake))
        self.worker.on_finish.append(self.cron.finished)
        self.started = False  # every role of this process running; see readiness()
        self.worker.on_finish.append(self.subagents.finished)
        self.worker.on_finish.append(self.crew_activations.finished)

    async def start(self) -> None:
        """Bring the schema up to date."""
        self.settings.data_dir.mkdir(parents=True, exist_ok=True)
        await migrate(self.db)
        self.models = await build_router(self.settings, self.db)
        await self.gateway.start()
        await self.runs.start_sweeping()
        await self.attachments.start_sweeping()
        if self.settings.role in ("all", "worker"):
            await self.worker.start()
            await self.indexer.start()
            await self.subagents.start_sweeping()
        if self.settings.role in ("all", "scheduler"):
            await self.scheduler.start()
        # Everything loaded so far lives as long as the process: keep it out of the cyclic
        # collector, whose full passes over it otherwise stall the event loop for tens of ms.
        gc.collect()
        gc.freeze()
        metrics.process_info.labels(self.settings.role, __version__).set(1)
        self.started = True

    @property
    def roles(self) -> tuple[str, ...]:
        """What this process does: api, worker, scheduler (all three for role `all`)."""
        if self.settings.role == "all":
            return ("api", "worker", "scheduler")
        return (self.settings.role,)

    async def readiness(self) -> list[str]:
        """Why this process should not take traffic yet, in plain words; empty when ready:
        its roles started, the database reachable at the newest schema, Redis reachable
        (when configured)."""
        problems = []
        if not self.started:
            problems.append(f"the {'/'.join(self.roles)} role(s) of this process are not "
                            "running (starting up or shutting down)")
        try:
            revision = await asyncio.wait_for(current_revision(self.db), 5)
        except Exception as exc:  # any driver error is a reason, not a 500
            problems.append(f"the database is unreachable ({type(exc).__name__})")
        else:
            head = head_revision()
            if revision != head:
                problems.append(f"the database schema is at {revision or 'nothing'}, not "
                                f"{head}: run `shoal migrate`")
        if await self.gateway.ping_redis() is False:
            problems.append("Redis is unreachable")
        return problems

    async def drain_sockets(self) -> None:
        """The first step of a SIGTERM for a process that serves sockets: not ready any more,
        and every socket told to reconnect elsewhere once what it sent is answered (waiting
        at most the shutdown grace)."""
        self.started = False
        await self.gateway.drain(self.settings.shutdown_grace_seconds)

    async def stop(self) -> None:
        """Stop background work and release connections."""
        self.started = False
        await self.scheduler.stop()
        await self.worker.stop()
        await self.indexer.stop()
        await self.subagents.stop()
        await self.mcp.close()
        await self.runs.stop()
        await self.attachments.stop()
        await self.chat.appender.stop()
        await self.gateway.stop()
        await self.db.dispose()

    def _wake_worker(self) -> None:
        self.worker.wake()

    def _cancel_local(self, activation_id: str) -> bool:
        return self.worker.cancel(activation_id)

    async def _post_stopped_notice(self, notice: Notice) -> None:
        """Tell a room that its agents stopped because their interaction's budget is spent."""
        await self.chat.post_system(
            notice.room_id, stopped_notice(notice.replies), sender_name="Shoal",
            metadata={"interaction_budget": {"interaction_id": notice.interaction_id,
                                             "replies": notice.replies}})

    async def authenticate(self, token: str) -> Principal:
        """The principal a bearer token stands for, or Unauthorized."""
        async with self.db.read() as session:
            row, user = await find_token(session, token)
        if needs_last_used_update(row):
            async with self.db.write() as session:
                await touch_token(session, row.id)
        return Principal(user=user, token_id=row.id, token_kind=row.kind)
