"""Sending deliveries, as the scheduler's `delivery` kind: a due delivery is leased, POSTed
signed through the outbound guard, and its attempt logged; a failure is retried with backoff,
and a subscription that has failed for a day is disabled and its creator told."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoal import metrics
from shoal.crypto import sign
from shoal.errors import ShoalError
from shoal.logs import log_context
from shoal.net.outbound import AddressRefused, Outbound, OutboundPolicy, check_url
from shoal.scheduler.service import Fired, remove_due, set_due
from shoal.scheduler.tables import Schedule
from shoal.store.tables import HouseMember, Room
from shoal.webhooks.queue import DELIVERY, queue_for
from shoal.webhooks.tables import Delivery, DeliveryAttempt, Subscription

if TYPE_CHECKING:
    from shoal.config import Settings
    from shoal.crypto import SecretBox
    from shoal.store import Database

log = logging.getLogger("shoal.webhooks")

# A claimed delivery is due again after the lease: if this process dies while sending, another
# one sends it then. Longer than a send can take.
LEASE = timedelta(seconds=60)
BACKOFF = (timedelta(seconds=10), timedelta(seconds=60), timedelta(seconds=300))
MAX_ATTEMPTS = len(BACKOFF) + 1
FAILING_LIMIT = timedelta(hours=24)
SEND_TIMEOUT = 10.0
MAX_RESPONSE_BYTES = 256 * 1024
MAX_ERROR_CHARS = 300
MAX_CONCURRENT_SENDS = 16
PRUNE_EVERY = timedelta(hours=1)
ENVELOPE = ("event", "timestamp", "agencyId", "houseId")


@dataclass(frozen=True)
class Attempt:
    """What one POST came to."""

    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        """A 2xx answer."""
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Disabled:
    """A subscription just disabled, and whom to tell where."""

    subscription_id: str
    house_id: str
    room_id: str | None
    creator_id: str | None
    origin: str
    error: str


def encode_payload(payload: dict[str, Any]) -> bytes:
    """The body sent: the envelope's keys first (PostgreSQL does not keep key order)."""
    ordered = {key: payload.get(key) for key in ENVELOPE}
    ordered.update((k, v) for k, v in payload.items() if k not in ENVELOPE)
    return json.dumps(ordered, separators=(",", ":")).encode()


def signed_headers(body: bytes, secret: str, event: str, delivery_id: str,
                   timestamp: int) -> dict[str, str]:
    """`X-Shoal-Signature` is `sha256=` + hex HMAC-SHA256 of `<timestamp>.<body>`, so a
    receiver can refuse replays by `X-Shoal-Timestamp`; the contract's `X-Crustocean-Signature`
    is `sha256=` + hex HMAC-SHA256 of the body alone. Both use the subscription's secret."""
    return {
        "Content-Type": "application/json",
        "User-Agent": "Shoal-Webhooks/1",
        "X-Shoal-Event": event,
        "X-Shoal-Delivery": delivery_id,
        "X-Shoal-Timestamp": str(timestamp),
        "X-Shoal-Signature": "sha256=" + sign(secret, f"{timestamp}.".encode() + body),
        "X-Crustocean-Signature": "sha256=" + sign(secret, body),
    }


class SystemPoster(Protocol):
    """Where a disabled subscription is announced: the rooms' system messages."""

    async def post_system(self, room_id: str, content: str, *, sender_name: str = ...,
                          type: str = ..., metadata: dict[str, Any] | None = ...
                          ) -> dict[str, Any]: ...


class Deliveries:
    """The `delivery` kind: `advance` leases claimed rows, `fire` sends them."""

    def __init__(self, db: Database, chat: SystemPoster, secrets: SecretBox, settings: Settings,
                 clock: Callable[[], datetime]) -> None:
        self.db = db
        self.chat = chat
        self.secrets = secrets
        self.settings = settings
        self.clock = clock
        self.outbound = Outbound(OutboundPolicy.from_settings(settings))
        self.timeout = SEND_TIMEOUT
        self._slots = asyncio.Semaphore(MAX_CONCURRENT_SENDS)
        self._leases: dict[str, datetime] = {}  # schedule id -> the lease this process took
        self._pruned_at: datetime | None = None

    def now(self) -> datetime:
        """The scheduler's clock (tests move it)."""
        return self.clock()

    async def advance(self, session: AsyncSession, rows: list[Schedule], now: datetime) -> None:
        """Lease each claimed delivery; sending it reschedules or removes the row."""
        for row in rows:
            row.due_at = now + LEASE
            self._leases[row.id] = row.due_at

    async def fire(self, fired: list[Fired]) -> None:
        """Send the claimed deliveries, several at a time."""
        try:
            await self._prune_old()
        except Exception:  # housekeeping must not hold up what is due
            log.exception("pruning old webhook deliveries failed")
        await asyncio.gather(*(self._send_logged(item) for item in fired))

    async def _prune_old(self) -> None:
        """Forget finished deliveries past the retention period, at most once an hour."""
        now = self.now()
        if self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return
        self._pruned_at = now
        days = self.settings.webhook_retention_days
        async with self.db.write() as session:
            result = await session.execute(delete(Delivery).where(
                Delivery.status != "pending", Delivery.finished_at < now - timedelta(days=days)))
        if result.rowcount:  # type: ignore[attr-defined]
            log.info("pruned %d webhook deliveries older than %d days",
                     result.rowcount, days)  # type: ignore[attr-defined]

    async def _send_logged(self, item: Fired) -> None:
        lease = self._leases.pop(item.schedule_id, None)
        with log_context(schedule_id=item.schedule_id):
            await self._send_leased(item, lease)

    async def _send_leased(self, item: Fired, lease: datetime | None) -> None:
        async with self._slots:
            try:
                # Waiting for a slot may outlast the lease, and then another process may
                # have claimed the delivery again: send only while the lease is still ours.
                if lease is None or await self._renew(item.schedule_id, lease):
                    await self.send(item.target_id)
            except Exception:  # the lease runs out and another pass tries again
                log.exception("webhook delivery %s could not be processed", item.target_id)

    async def _renew(self, schedule_id: str, lease: datetime) -> bool:
        """Extend a lease this process still holds; False if it ran out and was taken."""
        async with self.db.write() as session:
            result = await session.execute(
                update(Schedule).where(Schedule.id == schedule_id, Schedule.due_at == lease)
                .values(due_at=self.now() + LEASE))
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def send(self, delivery_id: str) -> None:
        """Make the next attempt of one delivery and record it."""
        async with self.db.read() as session:
            row = (await session.execute(
                select(Delivery, Subscription)
                .join(Subscription, Subscription.id == Delivery.subscription_id)
                .where(Delivery.id == delivery_id))).first()
        if row is None or row[0].status != "pending" or not row[1].enabled:
            await self._drop(delivery_id)
            return
        delivery, sub = row.tuple()
        try:
            secret = self.secrets.decrypt(sub.secret)
        except ValueError:
            attempt = Attempt(None, "the secret can no longer be decrypted (the server secret "
                                    "changed); set a new one", 0)
        else:
            attempt = await self._post(sub.url, delivery, secret)
        metrics.webhook_deliveries.labels("delivered" if attempt.ok else "failed").inc()
        disabled = await self._record(delivery_id, attempt)
        if disabled is not None:
            await self._tell_creator(disabled)

    async def _post(self, url: str, delivery: Delivery, secret: str) -> Attempt:
        body = encode_payload(delivery.payload)
        headers = signed_headers(body, secret, delivery.event, delivery.id, int(time.time()))
        started = time.monotonic()
        code: int | None = None
        error: str | None = None
        try:
            answer = await self.outbound.request("POST", url, content=body, headers=headers,
                                                 timeout=self.timeout,
                                                 max_bytes=MAX_RESPONSE_BYTES)
            code = answer.status
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except AddressRefused as exc:
            error = f"refused: {exc.message}"
        except ShoalError as exc:
            error = exc.message
        except Exception:  # recorded as a failed attempt, so the delivery still ends
            log.exception("webhook delivery %s failed unexpectedly", delivery.id)
            error = "the delivery failed unexpectedly"
        duration = int((time.monotonic() - started) * 1000)
        return Attempt(code, error[:MAX_ERROR_CHARS] if error else None, duration)

    async def _drop(self, delivery_id: str) -> None:
        """A delivery whose subscription is gone or disabled ends without an attempt."""
        async with self.db.write() as session:
            delivery = await session.get(Delivery, delivery_id)
            if delivery is not None and delivery.status == "pending":
                metrics.webhook_deliveries.labels("dropped").inc()
                delivery.status = "failed"
                delivery.last_error = "the subscription is disabled"
                delivery.finished_at = self.now()
            await remove_due(session, DELIVERY, delivery_id)

    async def _record(self, delivery_id: str, attempt: Attempt) -> Disabled | None:
        now = self.now()
        async with self.db.write() as session:
            delivery = await session.get(Delivery, delivery_id)
            if delivery is None or delivery.status != "pending":
                return None  # deleted with its subscription while we sent
            # Locked: deliveries of one subscription recorded at once must not both count
            # the failure that disables it.
            sub = await session.get(Subscription, delivery.subscription_id, with_for_update=True)
            assert sub is not None
            delivery.attempts += 1
            session.add(DeliveryAttempt(delivery_id=delivery.id, attempt=delivery.attempts,
                                        status_code=attempt.status_code, error=attempt.error,
                                        duration_ms=attempt.duration_ms, at=now))
            delivery.last_status_code = attempt.status_code
            delivery.last_error = attempt.error
            if attempt.ok:
                sub.failing_since = None
                await self._finish(session, delivery, "delivered", now)
                return None
            disabled = self._failed(session, sub, attempt, now)
            if disabled is not None or delivery.attempts >= MAX_ATTEMPTS:
                metrics.webhook_deliveries.labels("gave_up").inc()
                await self._finish(session, delivery, "failed", now)
            else:
                await set_due(session, DELIVERY, delivery.id,
                              now + BACKOFF[delivery.attempts - 1])
        log.info("webhook delivery %s attempt %d failed: %s", delivery_id, delivery.attempts,
                 attempt.error)
        return disabled

    @staticmethod
    async def _finish(session: AsyncSession, delivery: Delivery, status: str,
                      now: datetime) -> None:
        delivery.status = status
        delivery.finished_at = now
        await remove_due(session, DELIVERY, delivery.id)

    def _failed(self, session: AsyncSession, sub: Subscription, attempt: Attempt,
                now: datetime) -> Disabled | None:
        """Count a failure against the subscription; past a day of them, disable it."""
        if sub.failing_since is None:
            sub.failing_since = now
            return None
        if not sub.enabled or now - sub.failing_since < FAILING_LIMIT:
            return None
        error = attempt.error or "no answer"
        sub.enabled = False
        sub.disabled_reason = f"deliveries kept failing for more than 24 hours (last: {error})"
        sub.updated_at = now
        queue_for(session).forget(session, sub.house_id)
        log.warning("webhook subscription %s disabled after a day of failures", sub.id)
        return Disabled(sub.id, sub.house_id, sub.room_id, sub.created_by, check_url(sub.url),
                        error)

    async def _tell_creator(self, disabled: Disabled) -> None:
        """A system message in the subscription's room (house-wide: the house's oldest public
        room) naming the subscription's creator, so they hear of it."""
        async with self.db.read() as session:
            room_id = disabled.room_id or await session.scalar(
                select(Room.id).where(Room.house_id == disabled.house_id,
                                      Room.is_dm.is_(False), Room.is_private.is_(False))
                .order_by(Room.created_at).limit(1))
            handle = await session.scalar(select(HouseMember.handle).where(
                HouseMember.house_id == disabled.house_id,
                HouseMember.user_id == disabled.creator_id)) if disabled.creator_id else None
        if room_id is None:
            log.warning("no room to announce disabling webhook subscription %s in",
                        disabled.subscription_id)
            return
        where = (f"/api/webhook-subscriptions/{room_id}/{disabled.subscription_id}"
                 if disabled.room_id else
                 f"/api/houses/{disabled.house_id}/webhook-subscriptions/"
                 f"{disabled.subscription_id}")
        # The error comes from the endpoint: its @s must not mention (and wake) anyone.
        error = disabled.error.replace("@", "\uff20")
        text = (f"{'@' + handle + ': ' if handle else ''}the webhook subscription to "
                f"{disabled.origin} was disabled because its deliveries have failed for more "
                f"than 24 hours (last error: {error}). Fix the endpoint, then turn it back on "
                f'with PATCH {where} {{"enabled": true}}.')
        try:
            await self.chat.post_system(room_id, text, sender_name="Webhooks", metadata={
                "webhook_subscription": {"id": disabled.subscription_id, "enabled": False}})
        except ShoalError:
            log.warning("could not announce disabling webhook subscription %s",
                        disabled.subscription_id)
