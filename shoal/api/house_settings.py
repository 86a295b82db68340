"""A house's settings document: models, relevance model, run permission deciders, time zone
and interaction budget. Members read it; owners change it."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.rooms.access import Action, authorize_house
from shoal.rooms.house_settings import check_may_change, settings_view, updated_settings
from shoal.rooms.houses import get_house

router = APIRouter(prefix="/api/houses", tags=["houses"])


@router.get("/{house_id}/settings")
async def show_settings(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                        ) -> dict[str, Any]:
    """Every setting of the house, with the defaults filled in (any member)."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.VIEW_HOUSE)
        house = await get_house(session, house_id)
    return settings_view(house.settings, shoal.settings.interaction_budget)


@router.patch("/{house_id}/settings")
async def change_settings(house_id: str, body: dict[str, Any], principal: PrincipalDep,
                          shoal: ShoalDep) -> dict[str, Any]:
    """Change the given keys (null resets one to its default); the house's owners."""
    async with shoal.db.write() as session:
        access = await authorize_house(session, principal.id, house_id, Action.VIEW_HOUSE)
        check_may_change(access.role, body)
        house = await get_house(session, house_id)
        house.settings = updated_settings(house.settings, body, shoal.models.catalog)
    return settings_view(house.settings, shoal.settings.interaction_budget)
