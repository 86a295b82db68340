"""The process's webhook machinery: the event queue its write paths use, and the sender of
deliveries that its scheduler fires."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.webhooks.delivery import Deliveries, SystemPoster
from shoal.webhooks.queue import EventQueue

if TYPE_CHECKING:
    from shoal.config import Settings
    from shoal.crypto import SecretBox
    from shoal.scheduler.service import Scheduler
    from shoal.store import Database


class Webhooks:
    """Queues events on the scheduler's clock, wakes it after a commit, and sends what it
    fires (register `advance` and `fire` as the scheduler's `delivery` kind)."""

    def __init__(self, db: Database, chat: SystemPoster, secrets: SecretBox, settings: Settings,
                 scheduler: Scheduler) -> None:
        # Through the scheduler at each call: tests replace its clock.
        self.queue = EventQueue(clock=lambda: scheduler.clock(), wake=lambda: scheduler.wake())
        self.queue.attach(db)
        self.deliveries = Deliveries(db, chat, secrets, settings,
                                     clock=lambda: scheduler.clock())
        self.advance = self.deliveries.advance
        self.fire = self.deliveries.fire
