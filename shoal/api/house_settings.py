"""A house's settings document: models, relevance model, run permission deciders, time zone,
interaction budget, tool policy and room bindings. Members read it; owners change it (admins:
bindings)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.rooms.access import Action, authorize_house
from shoal.rooms.house_settings import change_settings, check_may_change, settings_document
from shoal.rooms.houses import get_house

router = APIRouter(prefix="/api/houses", tags=["houses"])


@router.get("/{house_id}/settings")
async def show_settings(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                        ) -> dict[str, Any]:
    """Every setting of the house, with the defaults filled in (any member)."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.VIEW_HOUSE)
        house = await get_house(session, house_id)
        return await settings_document(session, house, shoal.settings.interaction_budget)


@router.patch("/{house_id}/settings")
async def patch_settings(house_id: str, body: dict[str, Any], principal: PrincipalDep,
                          shoal: ShoalDep) -> dict[str, Any]:
    """Change the given keys (null resets one to its default); the house's owners, and its
    admins for `bindings`."""
    async with shoal.db.write() as session:
        access = await authorize_house(session, principal.id, house_id, Action.VIEW_HOUSE)
        check_may_change(access.role, body)
        house = await get_house(session, house_id)
        rebound = await change_settings(session, house, body, shoal.models.catalog,
                                        principal.id)
    for room, binding in rebound:
        await shoal.membership.announce_binding(room, binding)
    async with shoal.db.read() as session:
        return await settings_document(session, house, shoal.settings.interaction_budget)
