"""/cron and /heartbeat: the scheduler's own commands, and the scheduler as they use it."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shoal.commands.registry import CommandRegistry
from shoal.errors import NotFound
from shoal.scheduler.tables import CronJob
from shoal.schedules import cron_command, heartbeat_command

if TYPE_CHECKING:
    from shoal.scheduler.service import Scheduler
    from shoal.schedules.cron import CronKind
    from shoal.store.db import Database


class ScheduleControl:
    """The commands' `Schedules`: the scheduler's clock and nudge, and cron's run-now."""

    def __init__(self, db: Database, scheduler: Scheduler, cron: CronKind) -> None:
        self.db = db
        self.scheduler = scheduler
        self.cron = cron

    def clock(self) -> datetime:
        """The scheduler's now."""
        return self.scheduler.clock()

    def wake(self) -> None:
        """Look for due schedules now."""
        self.scheduler.wake()

    async def run_cron_job(self, job_id: str) -> None:
        """Run a cron job's turn at once, outside its schedule."""
        async with self.db.read() as session:
            job = await session.get(CronJob, job_id)
        if job is None:
            raise NotFound("cron job not found")
        await self.cron.run_now(job)


def register_schedule_commands(registry: CommandRegistry) -> None:
    """Add /heartbeat and /cron to a registry, as built-ins."""
    for family in (heartbeat_command, cron_command):
        for command in family.COMMANDS:
            registry.register(command)
