"""Houses: their members, roles and invites."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import NOT_BLANK, checked
from shoal.auth.tokens import parse_expiry
from shoal.dispatch.interactions import house_budget
from shoal.errors import Forbidden, NotFound
from shoal.rooms.access import RANK, ROLES, Action, authorize_house
from shoal.rooms.bindings import unbind_agent, visible_room_views
from shoal.rooms.house_settings import updated_settings
from shoal.rooms.houses import (
    MAX_HOUSE_NAME,
    check_house_name,
    check_role,
    create_house,
    get_house,
    house_members,
    house_view,
    houses_of,
    member_view,
)
from shoal.rooms.invites import (
    INVITE_ROLES,
    check_invite_role,
    check_max_uses,
    create_invite,
    invite_view,
    redeem_invite,
    revoke_invite,
)
from shoal.rooms.webhook_events import member_event, role_changed
from shoal.store.tables import MAX_INTEGER, House, HouseMember, Invite, RoomMember

if TYPE_CHECKING:
    from shoal.core import Shoal

router = APIRouter(prefix="/api/houses", tags=["houses"])


class HouseBody(BaseModel):
    name: Annotated[str, Field(min_length=1, max_length=MAX_HOUSE_NAME, pattern=NOT_BLANK),
                    checked(check_house_name)]
    description: str = Field("", max_length=4000)


class HouseUpdateBody(BaseModel):
    name: str | None = Field(None, min_length=1, max_length=64)
    description: str | None = Field(None, max_length=4000)
    # Agent replies one message may wake in all; null returns to the server's default.
    interaction_budget: Any = None


class RoleBody(BaseModel):
    role: Annotated[str, Field(json_schema_extra={"enum": list(ROLES)}), checked(check_role)]


class InviteBody(BaseModel):
    role: Annotated[str, Field(json_schema_extra={"enum": list(INVITE_ROLES)}),
                    checked(check_invite_role)] = "member"
    expires: str | None = None
    max_uses: Annotated[int, Field(ge=1, le=MAX_INTEGER), checked(check_max_uses)] | None = None


class JoinBody(BaseModel):
    code: str


@router.get("")
async def list_houses(principal: PrincipalDep, shoal: ShoalDep) -> list[dict[str, Any]]:
    """The houses the caller belongs to, with their role."""
    async with shoal.db.read() as session:
        return [house_view(h, r) for h, r in await houses_of(session, principal.id)]


@router.post("", status_code=201)
async def new_house(body: HouseBody, principal: PrincipalDep, shoal: ShoalDep
                    ) -> dict[str, Any]:
    """Create a house; the caller owns it."""
    async with shoal.db.write() as session:
        house = await create_house(session, body.name, principal.user)
        house.description = body.description
    return house_view(house, "owner")


@router.post("/join")
async def join_house(body: JoinBody, principal: PrincipalDep, shoal: ShoalDep
                     ) -> dict[str, Any]:
    """Join a house with an invite code."""
    async with shoal.db.write() as session:
        member = await redeem_invite(session, body.code, principal.user)
        house = await get_house(session, member.house_id)
    return house_view(house, member.role)


@router.get("/{house_id}")
async def show_house(house_id: str, principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """One house."""
    async with shoal.db.read() as session:
        access = await authorize_house(session, principal.id, house_id, Action.VIEW_HOUSE)
        house = await get_house(session, house_id)
    return _with_settings(house_view(house, access.role), house, shoal)


@router.patch("/{house_id}")
async def update_house(house_id: str, body: HouseUpdateBody, principal: PrincipalDep,
                       shoal: ShoalDep) -> dict[str, Any]:
    """Rename a house, change its description or its interaction budget (its owners)."""
    async with shoal.db.write() as session:
        access = await authorize_house(session, principal.id, house_id, Action.MANAGE_HOUSE)
        house = await get_house(session, house_id)
        if body.name is not None:
            house.name = body.name.strip() or house.name
        if body.description is not None:
            house.description = body.description
        if "interaction_budget" in body.model_fields_set:
            house.settings = updated_settings(
                house.settings, {"interaction_budget": body.interaction_budget},
                shoal.models.catalog)
    return _with_settings(house_view(house, access.role), house, shoal)


def _with_settings(view: dict[str, Any], house: House, shoal: Shoal) -> dict[str, Any]:
    """A house's view with the agent settings that apply in it."""
    return {**view, "interaction_budget": house_budget(house.settings or {},
                                                        shoal.settings.interaction_budget),
            "timezone": (house.settings or {}).get("timezone") or "UTC"}


@router.get("/{house_id}/members")
async def list_members(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                       ) -> list[dict[str, Any]]:
    """Everyone in the house with role, handle and presence."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.VIEW_HOUSE)
        rows = await house_members(session, house_id)
    online = shoal.gateway.online_users()
    return [member_view(m, u, u.id in online) for m, u in rows]


@router.get("/{house_id}/agencies")
async def list_house_rooms(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                           ) -> list[dict[str, Any]]:
    """The house's rooms the caller can see."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.VIEW_HOUSE)
        return await visible_room_views(session, principal.id, house_id)


@router.patch("/{house_id}/members/{user_id}")
async def set_role(house_id: str, user_id: str, body: RoleBody, principal: PrincipalDep,
                   shoal: ShoalDep) -> dict[str, Any]:
    """Change a member's role. Admins manage guests and members; owners manage everyone."""
    async with shoal.db.write() as session:
        access = await authorize_house(session, principal.id, house_id, Action.MANAGE_MEMBERS)
        member = await session.get(HouseMember, (house_id, user_id))
        if member is None:
            raise NotFound("member not found")
        _check_can_manage(access.role or "guest", member.role, body.role)
        if member.role == "owner" and body.role != "owner":
            await _keep_an_owner(session, house_id)
        previous, member.role = member.role, body.role
        await role_changed(session, member, previous, principal.id)
    return {"ok": True, "role": body.role}


@router.delete("/{house_id}/members/{user_id}")
async def remove_house_member(house_id: str, user_id: str, principal: PrincipalDep,
                              shoal: ShoalDep) -> dict[str, Any]:
    """Remove a member from the house (or leave it yourself)."""
    async with shoal.db.write() as session:
        member = await session.get(HouseMember, (house_id, user_id))
        if user_id != principal.id:
            access = await authorize_house(session, principal.id, house_id,
                                           Action.MANAGE_MEMBERS)
            if member is None:
                raise NotFound("member not found")
            _check_can_manage(access.role or "guest", member.role, "guest")
        elif member is None:
            raise NotFound("house not found")
        if member.role == "owner":
            await _keep_an_owner(session, house_id)
        await member_event(session, "member.left" if user_id == principal.id else "member.kicked",
                           house_id, user_id, by=principal.id)
        await session.delete(member)
        await unbind_agent(session, user_id, house_id=house_id)
        rooms = (await session.scalars(
            select(RoomMember).where(RoomMember.user_id == user_id)
        )).all()
        room_ids = [rm.room_id for rm in rooms]
        for rm in rooms:
            await session.delete(rm)
    for room_id in room_ids:
        await shoal.gateway.remove_user_from_room(user_id, room_id)
    return {"ok": True}


@router.post("/{house_id}/invites", status_code=201)
async def new_invite(house_id: str, body: InviteBody, principal: PrincipalDep, shoal: ShoalDep
                     ) -> dict[str, Any]:
    """An invite code (shown once) for registering into, or joining, this house."""
    async with shoal.db.write() as session:
        access = await authorize_house(session, principal.id, house_id, Action.MANAGE_MEMBERS)
        invite, code = await create_invite(
            session, house_id, principal.id, access.role or "guest", role=body.role,
            expires_at=parse_expiry(body.expires), max_uses=body.max_uses,
        )
    return {**invite_view(invite), "code": code}


@router.get("/{house_id}/invites")
async def list_invites(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                       ) -> list[dict[str, Any]]:
    """The house's invites, without their codes."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_MEMBERS)
        invites = (await session.scalars(
            select(Invite).where(Invite.house_id == house_id).order_by(Invite.created_at)
        )).all()
    return [invite_view(i) for i in invites]


@router.delete("/{house_id}/invites/{invite_id}")
async def delete_invite(house_id: str, invite_id: str, principal: PrincipalDep,
                        shoal: ShoalDep) -> dict[str, Any]:
    """Revoke an invite."""
    async with shoal.db.write() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_MEMBERS)
        return invite_view(await revoke_invite(session, house_id, invite_id))


def _check_can_manage(actor_role: str, target_role: str, new_role: str) -> None:
    if actor_role != "owner" and max(RANK[target_role], RANK[new_role]) >= RANK["admin"]:
        raise Forbidden("only an owner may change admins and owners")


async def _keep_an_owner(session: Any, house_id: str) -> None:
    owners = (await session.scalars(
        select(HouseMember.user_id).where(HouseMember.house_id == house_id,
                                          HouseMember.role == "owner")
    )).all()
    if len(owners) <= 1:
        raise Forbidden("a house needs at least one owner")
