"""Subscriptions: what a house admin may subscribe, stored with the secret encrypted."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.crypto import SecretBox
from shoal.errors import Conflict, InvalidInput, NotFound
from shoal.net.outbound import AddressRefused, OutboundPolicy, check_destination, check_url
from shoal.scheduler.tables import Schedule
from shoal.store.tables import iso, utcnow
from shoal.webhooks.events import EVENT_TYPES
from shoal.webhooks.queue import DELIVERY, queue_for
from shoal.webhooks.tables import Delivery, Subscription

MAX_URL = 2048
MAX_DESCRIPTION = 500
MIN_SECRET, MAX_SECRET = 16, 256
MAX_PER_SCOPE = 25  # subscriptions per room, and house-wide ones per house


def check_url_field(url: object, policy: OutboundPolicy) -> str:
    """An http(s) URL with a host, within its size cap, that the outbound policy lets Shoal
    call: an internal address is refused now, not at the first delivery."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidInput("url is required")
    url = url.strip()
    if len(url) > MAX_URL:
        raise InvalidInput(f"url must be at most {MAX_URL} characters")
    try:
        check_url(url)
    except AddressRefused:
        raise InvalidInput("url must be an http:// or https:// URL with a host") from None
    try:
        check_destination(url, policy, "url")
    except AddressRefused as exc:
        raise InvalidInput(exc.message) from None
    return url


def check_events(events: object) -> list[str]:
    """A non-empty list of known event types, each once, in the order given."""
    if not isinstance(events, list) or not events:
        raise InvalidInput("events must be a non-empty list of event types "
                           "(GET /api/webhook-subscriptions/meta/events lists them)")
    unknown = [e for e in events if not isinstance(e, str) or e not in EVENT_TYPES]
    if unknown:
        shown = ", ".join(repr(e)[:40] for e in unknown[:3])
        raise InvalidInput(f"unknown event type {shown}; known types: "
                           f"{', '.join(EVENT_TYPES)}")
    return list(dict.fromkeys(events))


def check_secret(secret: object) -> str:
    """A signing secret the caller chose."""
    if not isinstance(secret, str) or not MIN_SECRET <= len(secret) <= MAX_SECRET:
        raise InvalidInput(f"secret must be {MIN_SECRET} to {MAX_SECRET} characters")
    if not secret.isprintable() or secret != secret.strip():
        raise InvalidInput("secret must be printable, without surrounding spaces")
    return secret


def check_description(description: object) -> str:
    """A short note on what the subscription is for."""
    if description is None:
        return ""
    if not isinstance(description, str):
        raise InvalidInput("description must be a string")
    if len(description) > MAX_DESCRIPTION:
        raise InvalidInput(f"description must be at most {MAX_DESCRIPTION} characters")
    return description


def new_secret() -> str:
    """A signing secret Shoal makes when the caller gives none."""
    return f"whsec_{secrets.token_urlsafe(32)}"


async def list_subscriptions(session: AsyncSession, house_id: str, room_id: str | None
                             ) -> list[Subscription]:
    """A room's subscriptions, or (room_id None) the house-wide ones, oldest first."""
    query = select(Subscription).where(Subscription.house_id == house_id)
    query = query.where(Subscription.room_id.is_(None) if room_id is None
                        else Subscription.room_id == room_id)
    return list((await session.scalars(query.order_by(Subscription.created_at))).all())


async def get_subscription(session: AsyncSession, house_id: str, room_id: str | None,
                           subscription_id: str) -> Subscription:
    """One subscription of this room (or house-wide one of this house), or NotFound."""
    sub = await session.get(Subscription, subscription_id)
    if sub is None or sub.house_id != house_id or sub.room_id != room_id:
        raise NotFound("subscription not found")
    return sub


async def create_subscription(session: AsyncSession, box: SecretBox, policy: OutboundPolicy,
                              *, house_id: str, room_id: str | None, creator_id: str | None,
                              url: object, events: object, secret: object = None,
                              description: object = None, enabled: bool = True
                              ) -> tuple[Subscription, str | None]:
    """A new subscription, and its secret when Shoal generated it (to be shown once)."""
    url, events = check_url_field(url, policy), check_events(events)
    generated = new_secret() if secret is None else None
    plain = generated or check_secret(secret)
    description = check_description(description)
    count = await session.scalar(
        select(func.count()).select_from(Subscription).where(
            Subscription.house_id == house_id,
            Subscription.room_id.is_(None) if room_id is None
            else Subscription.room_id == room_id))
    if (count or 0) >= MAX_PER_SCOPE:
        where = "house" if room_id is None else "room"
        raise Conflict(f"this {where} already has {MAX_PER_SCOPE} webhook subscriptions; "
                       "delete one first")
    now = utcnow()
    sub = Subscription(house_id=house_id, room_id=room_id, url=url, events=events,
                       secret=box.encrypt(plain), description=description, enabled=enabled,
                       created_by=creator_id, created_at=now, updated_at=now)
    session.add(sub)
    await session.flush()
    queue_for(session).forget(session, house_id)
    return sub, generated


def check_changes(changes: dict[str, Any], policy: OutboundPolicy) -> dict[str, Any]:
    """The fields of a change, each checked (`secret` still in the clear)."""
    checks: dict[str, Callable[[Any], Any]] = {
        "url": lambda url: check_url_field(url, policy), "events": check_events,
        "secret": check_secret, "description": check_description}
    checked = {name: check(changes[name]) for name, check in checks.items() if name in changes}
    if "enabled" in changes:
        if not isinstance(changes["enabled"], bool):
            raise InvalidInput("enabled must be true or false")
        checked["enabled"] = changes["enabled"]
    return checked


async def update_subscription(session: AsyncSession, box: SecretBox, sub: Subscription,
                              checked: dict[str, Any]) -> Subscription:
    """Apply changes that passed `check_changes`; enabling clears the failure streak and the
    reason it was disabled."""
    for name in ("url", "events", "description"):
        if name in checked:
            setattr(sub, name, checked[name])
    if "secret" in checked:
        sub.secret = box.encrypt(checked["secret"])
    if "enabled" in checked:
        if checked["enabled"] and not sub.enabled:
            sub.failing_since = None
            sub.disabled_reason = None
        sub.enabled = checked["enabled"]
    sub.updated_at = utcnow()
    await session.flush()
    queue_for(session).forget(session, sub.house_id)
    return sub


async def delete_subscription(session: AsyncSession, sub: Subscription) -> None:
    """Forget a subscription, its delivery log and its pending deliveries' schedule rows."""
    pending = select(Delivery.id).where(Delivery.subscription_id == sub.id,
                                        Delivery.status == "pending")
    await session.execute(delete(Schedule).where(Schedule.kind == DELIVERY,
                                                 Schedule.target_id.in_(pending)))
    await session.delete(sub)
    await session.flush()
    queue_for(session).forget(session, sub.house_id)


def subscription_view(sub: Subscription, secret: str | None = None) -> dict[str, Any]:
    """A subscription as the API shows it; the secret only when it was just generated."""
    view: dict[str, Any] = {
        "id": sub.id,
        "url": sub.url,
        "events": sub.events,
        "description": sub.description,
        "enabled": sub.enabled,
        "created_at": iso(sub.created_at),
        "updated_at": iso(sub.updated_at),
        "agency_id": sub.room_id,
        "house_id": sub.house_id,
        "created_by": sub.created_by,
        "failing_since": iso(sub.failing_since),
        "disabled_reason": sub.disabled_reason,
    }
    if secret is not None:
        view["secret"] = secret
    return view
