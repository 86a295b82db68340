"""The delivery log of a subscription: each event queued for it, and every attempt made."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.errors import InvalidInput
from shoal.scheduler.service import due_times
from shoal.store.tables import iso
from shoal.webhooks.queue import DELIVERY
from shoal.webhooks.tables import Delivery, DeliveryAttempt

DEFAULT_LOG = 20
MAX_LOG = 100


async def delivery_log(session: AsyncSession, subscription_id: str, *, limit: int = DEFAULT_LOG,
                       before: str | None = None) -> list[dict[str, Any]]:
    """The subscription's deliveries, newest first, each with its attempts oldest first;
    `before` (a delivery id) pages back."""
    query = select(Delivery).where(Delivery.subscription_id == subscription_id)
    if before is not None:
        pivot = await session.get(Delivery, before)
        if pivot is None or pivot.subscription_id != subscription_id:
            raise InvalidInput("before must be the id of a delivery of this subscription")
        query = query.where(Delivery.id < pivot.id)
    deliveries = list((await session.scalars(
        query.order_by(Delivery.id.desc()).limit(max(1, min(limit, MAX_LOG))))).all())
    ids = [d.id for d in deliveries]
    attempts: dict[str, list[DeliveryAttempt]] = {i: [] for i in ids}
    if ids:
        for attempt in await session.scalars(
                select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids))
                .order_by(DeliveryAttempt.attempt)):
            attempts[attempt.delivery_id].append(attempt)
    pending = [d.id for d in deliveries if d.status == "pending"]
    due = await due_times(session, DELIVERY, pending)
    return [delivery_view(d, attempts[d.id], due.get(d.id)) for d in deliveries]


def delivery_view(delivery: Delivery, attempts: list[DeliveryAttempt], next_attempt: Any
                  ) -> dict[str, Any]:
    """One delivery as the API shows it."""
    return {
        "id": delivery.id,
        "event": delivery.event,
        "status": delivery.status,
        "attempt_count": delivery.attempts,
        "attempts": [{"attempt": a.attempt, "status_code": a.status_code,
                      "duration_ms": a.duration_ms, "error": a.error, "at": iso(a.at)}
                     for a in attempts],
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "finished_at": iso(delivery.finished_at),
        "next_attempt_at": iso(next_attempt) if delivery.status == "pending" else None,
        "payload": delivery.payload,
    }
