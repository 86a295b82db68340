"""The process's webhook machinery: the event queue its write paths use, and the sender of
deliveries that its scheduler fires."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal.webhooks.delivery import Deliveries
from shoal.webhooks.queue import EventQueue

if TYPE_CHECKING:
    from shoal.core import Shoal


class Webhooks:
    """Queues events on the scheduler's clock, wakes it after a commit, and sends what it
    fires (register `advance` and `fire` as the scheduler's `delivery` kind)."""

    def __init__(self, shoal: Shoal) -> None:
        scheduler = shoal.scheduler
        self.queue = EventQueue(clock=lambda: scheduler.clock(), wake=lambda: scheduler.wake())
        self.queue.attach(shoal.db)
        self.deliveries = Deliveries(shoal)
        self.advance = self.deliveries.advance
        self.fire = self.deliveries.fire
