"""Webhook subscriptions: a room's (the contract's routes) and a house's house-wide ones,
with their delivery logs. House owners and admins manage them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import errors
from shoal.core import Shoal
from shoal.errors import Forbidden, InvalidInput
from shoal.net.outbound import OutboundPolicy
from shoal.rooms.access import RANK, Action, authorize, authorize_room, house_access
from shoal.webhooks.events import event_catalog
from shoal.webhooks.log import DEFAULT_LOG, MAX_LOG, delivery_log
from shoal.webhooks.subscriptions import (
    check_changes,
    create_subscription,
    delete_subscription,
    get_subscription,
    list_subscriptions,
    subscription_view,
    update_subscription,
)

router = APIRouter(prefix="/api", tags=["webhooks"])
# Resolves, inside the caller's transaction, the (house id, room id or None) a caller may
# manage the subscriptions of.
Scope = Callable[[AsyncSession], Awaitable[tuple[str, str | None]]]
ROOM = "/webhook-subscriptions/{agency_id}"
HOUSE = "/houses/{house_id}/webhook-subscriptions"


class SubscriptionBody(BaseModel):
    url: str
    events: list[str]
    secret: str | None = None
    description: str | None = None
    enabled: bool = True


class SubscriptionPatch(BaseModel):
    url: str | None = None
    events: list[str] | None = None
    secret: str | None = None
    description: str | None = None
    enabled: bool | None = None


def _room(user_id: str, room_id: str) -> Scope:
    """A room's subscriptions: house admins who can see the room manage them."""

    async def resolve(session: AsyncSession) -> tuple[str, str | None]:
        access = await authorize_room(session, user_id, room_id, Action.MODERATE)
        assert access.room is not None
        if access.room.is_dm:
            raise InvalidInput("direct messages send no webhook events")
        return access.house_id, room_id

    return resolve


def _house(user_id: str, house_id: str) -> Scope:
    """A house's house-wide subscriptions: its admins manage them."""

    async def resolve(session: AsyncSession) -> tuple[str, str | None]:
        access = await house_access(session, user_id, house_id)
        authorize(access, Action.VIEW_HOUSE)
        assert access.role is not None
        if RANK[access.role] < RANK["admin"]:
            raise Forbidden(f"your role ({access.role}) may not manage webhook subscriptions; "
                            "it needs admin or above")
        return house_id, None

    return resolve


async def _list(shoal: Shoal, scope: Scope) -> list[dict[str, Any]]:
    async with shoal.db.read() as session:
        house_id, room_id = await scope(session)
        return [subscription_view(s)
                for s in await list_subscriptions(session, house_id, room_id)]


async def _create(shoal: Shoal, scope: Scope, creator_id: str, body: SubscriptionBody
                  ) -> dict[str, Any]:
    async with shoal.db.write() as session:
        house_id, room_id = await scope(session)
        sub, secret = await create_subscription(
            session, shoal.secrets, OutboundPolicy.from_settings(shoal.settings),
            house_id=house_id, room_id=room_id, creator_id=creator_id,
            url=body.url, events=body.events, secret=body.secret,
            description=body.description, enabled=body.enabled)
    return subscription_view(sub, secret)


async def _update(shoal: Shoal, scope: Scope, subscription_id: str, body: SubscriptionPatch
                  ) -> dict[str, Any]:
    async with shoal.db.write() as session:
        house_id, room_id = await scope(session)
        changes = check_changes(body.model_dump(exclude_unset=True),
                                OutboundPolicy.from_settings(shoal.settings))
        sub = await get_subscription(session, house_id, room_id, subscription_id)
        sub = await update_subscription(session, shoal.secrets, sub, changes)
    return subscription_view(sub)


async def _delete(shoal: Shoal, scope: Scope, subscription_id: str) -> dict[str, Any]:
    async with shoal.db.write() as session:
        sub = await get_subscription(session, *await scope(session), subscription_id)
        await delete_subscription(session, sub)
    return {"ok": True, "id": subscription_id}


async def _deliveries(shoal: Shoal, scope: Scope, subscription_id: str, limit: int,
                      before: str | None) -> list[dict[str, Any]]:
    async with shoal.db.read() as session:
        sub = await get_subscription(session, *await scope(session), subscription_id)
        return await delivery_log(session, sub.id, limit=limit, before=before)


@router.get("/webhook-subscriptions/meta/events")
async def list_event_types() -> dict[str, Any]:
    """The event types a subscription may ask for (no authentication needed)."""
    return event_catalog()


# A room scope refuses a DM (400): direct messages send no webhook events.
@router.get(ROOM, responses=errors(400))
async def list_room_subscriptions(agency_id: str, principal: PrincipalDep, shoal: ShoalDep
                                  ) -> list[dict[str, Any]]:
    """The room's subscriptions (house admins)."""
    return await _list(shoal, _room(principal.id, agency_id))


@router.post(ROOM, status_code=201, responses=errors(409))
async def create_room_subscription(agency_id: str, body: SubscriptionBody,
                                   principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """Subscribe a URL to some of the room's events; a generated secret is shown only here."""
    return await _create(shoal, _room(principal.id, agency_id), principal.id, body)


@router.patch(ROOM + "/{subscription_id}")
async def update_room_subscription(agency_id: str, subscription_id: str,
                                   body: SubscriptionPatch, principal: PrincipalDep,
                                   shoal: ShoalDep) -> dict[str, Any]:
    """Change a subscription's url, events, secret, description or enabled."""
    return await _update(shoal, _room(principal.id, agency_id), subscription_id, body)


@router.delete(ROOM + "/{subscription_id}", responses=errors(400))
async def delete_room_subscription(agency_id: str, subscription_id: str,
                                   principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """Delete a subscription with its delivery log; pending deliveries are dropped."""
    return await _delete(shoal, _room(principal.id, agency_id), subscription_id)


@router.get(ROOM + "/{subscription_id}/deliveries")
async def room_subscription_deliveries(
    agency_id: str, subscription_id: str, principal: PrincipalDep, shoal: ShoalDep,
    limit: int = Query(DEFAULT_LOG, ge=1, le=MAX_LOG), before: str | None = None,
) -> list[dict[str, Any]]:
    """The subscription's deliveries, newest first, with every attempt."""
    return await _deliveries(shoal, _room(principal.id, agency_id), subscription_id, limit,
                             before)


@router.get(HOUSE)
async def list_house_subscriptions(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                                   ) -> list[dict[str, Any]]:
    """The house-wide subscriptions (house admins)."""
    return await _list(shoal, _house(principal.id, house_id))


@router.post(HOUSE, status_code=201, responses=errors(409))
async def create_house_subscription(house_id: str, body: SubscriptionBody,
                                    principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """Subscribe a URL to events of the whole house: its public rooms and the house itself."""
    return await _create(shoal, _house(principal.id, house_id), principal.id, body)


@router.patch(HOUSE + "/{subscription_id}")
async def update_house_subscription(house_id: str, subscription_id: str,
                                    body: SubscriptionPatch, principal: PrincipalDep,
                                    shoal: ShoalDep) -> dict[str, Any]:
    """Change a house-wide subscription."""
    return await _update(shoal, _house(principal.id, house_id), subscription_id, body)


@router.delete(HOUSE + "/{subscription_id}")
async def delete_house_subscription(house_id: str, subscription_id: str,
                                    principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """Delete a house-wide subscription with its delivery log."""
    return await _delete(shoal, _house(principal.id, house_id), subscription_id)


@router.get(HOUSE + "/{subscription_id}/deliveries")
async def house_subscription_deliveries(
    house_id: str, subscription_id: str, principal: PrincipalDep, shoal: ShoalDep,
    limit: int = Query(DEFAULT_LOG, ge=1, le=MAX_LOG), before: str | None = None,
) -> list[dict[str, Any]]:
    """A house-wide subscription's deliveries, newest first, with every attempt."""
    return await _deliveries(shoal, _house(principal.id, house_id), subscription_id, limit,
                             before)
