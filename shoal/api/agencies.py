"""Rooms ("agencies"), their members and their messages."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import NOT_BLANK, checked, errors
from shoal.auth.accounts import user_by_username
from shoal.commands.parser import is_command
from shoal.core import Shoal
from shoal.errors import Forbidden, InvalidInput, NotFound
from shoal.rooms.access import Action, authorize_house, authorize_room, house_access
from shoal.rooms.bindings import binding_of, visible_room_views
from shoal.rooms.houses import add_house_member, houses_of, member_by_handle
from shoal.rooms.messages import DEFAULT_HISTORY, history
from shoal.rooms.rooms import (
    MAX_CHARTER,
    MAX_ROOM_NAME,
    check_charter,
    check_room_name,
    create_room,
    room_view,
)
from shoal.store.tables import MAX_INTEGER, Room, User
from shoal.webhooks.queue import queue_event

router = APIRouter(prefix="/api", tags=["agencies"])


RoomName = Annotated[str, Field(min_length=1, max_length=MAX_ROOM_NAME, pattern=NOT_BLANK),
                     checked(check_room_name)]
Charter = Annotated[str, Field(max_length=MAX_CHARTER), checked(check_charter)]


class CreateAgencyBody(BaseModel):
    name: RoomName
    charter: Charter | None = None
    isPrivate: bool = False
    houseId: str | None = None


class UpdateAgencyBody(BaseModel):
    name: RoomName | None = None
    charter: Charter | None = None
    isPrivate: bool | None = None


class PostMessageBody(BaseModel):
    content: Any = None
    type: str | None = None
    metadata: Any = None
    attachments: Any = None


class EditMessageBody(BaseModel):
    content: Any = None
    metadata: Any = None


class BindingBody(BaseModel):
    agent: str | None


class AddAgentBody(BaseModel):
    agentId: str | None = None
    username: str | None = None


async def home_house_id(shoal: Shoal, user_id: str, wanted: str | None) -> str:
    """The house a request means: the one named, else the caller's default or first house."""
    if wanted:
        return wanted
    async with shoal.db.read() as session:
        houses = await houses_of(session, user_id)
    if not houses:
        raise Forbidden("you are not a member of any house")
    default = next((h for h, _ in houses if h.is_default), houses[0][0])
    return default.id


async def readable_room(shoal: Shoal, user_id: str, room_id: str, action: Action = Action.READ
                        ) -> Room:
    """The room, once the caller is authorized for the action."""
    async with shoal.db.read() as session:
        access = await authorize_room(session, user_id, room_id, action)
    assert access.room is not None
    return access.room


@router.get("/agencies")
async def list_agencies(principal: PrincipalDep, shoal: ShoalDep,
                        houseId: str | None = None) -> list[dict[str, Any]]:
    """Rooms the caller can see, with whether they joined."""
    async with shoal.db.read() as session:
        return await visible_room_views(session, principal.id, houseId)


@router.post("/agencies", status_code=201, responses=errors(404))
async def create_agency(body: CreateAgencyBody, principal: PrincipalDep, shoal: ShoalDep
                        ) -> dict[str, Any]:
    """Create a room in the caller's house; the caller joins it."""
    house_id = await home_house_id(shoal, principal.id, body.houseId)
    async with shoal.db.write() as session:
        await authorize_house(session, principal.id, house_id, Action.CREATE_ROOM)
        room = await create_room(session, house_id, body.name, principal.id,
                                 charter=check_charter(body.charter), is_private=body.isPrivate)
    return room_view(room, is_member=True, member_count=1)


@router.get("/agencies/{agency_id}")
async def get_agency(agency_id: str, principal: PrincipalDep, shoal: ShoalDep
                     ) -> dict[str, Any]:
    """One room, with the agent it is bound to (`binding`, or null)."""
    async with shoal.db.read() as session:
        access = await authorize_room(session, principal.id, agency_id, Action.READ)
        assert access.room is not None
        return room_view(access.room, binding=await binding_of(session, access.room))


@router.patch("/agencies/{agency_id}")
async def update_agency(agency_id: str, body: UpdateAgencyBody, principal: PrincipalDep,
                        shoal: ShoalDep) -> dict[str, Any]:
    """Change a room's name, charter or privacy (house admins)."""
    async with shoal.db.write() as session:
        access = await authorize_room(session, principal.id, agency_id, Action.MODERATE)
        room = access.room
        assert room is not None
        if body.name is not None:
            room.name = body.name
        if body.charter is not None:
            room.charter = body.charter
        if body.isPrivate is not None:
            if room.is_dm:
                raise InvalidInput("a DM stays private")
            room.is_private = body.isPrivate
        view = room_view(room, binding=await binding_of(session, room))
        await queue_event(session, "agency.updated", room=room, agency=view, by=principal.id)
    await shoal.gateway.emit_room(agency_id, "agency-updated", view)
    return view


@router.put("/agencies/{agency_id}/binding")
async def bind_agency(agency_id: str, body: BindingBody, principal: PrincipalDep,
                      shoal: ShoalDep) -> dict[str, Any]:
    """Bind the room to one of its house's agents (`agent`: @handle, username or id), which
    then answers every person's message here unmentioned; `null` unbinds (room admins)."""
    room = await readable_room(shoal, principal.id, agency_id, Action.MODERATE)
    binding = await shoal.membership.bind(room, body.agent, principal.id)
    return room_view(room, binding=binding.view)


@router.get("/agencies/{agency_id}/members")
async def agency_members(agency_id: str, principal: PrincipalDep, shoal: ShoalDep
                         ) -> list[dict[str, Any]]:
    """Who is in the room, with role, type and presence."""
    room = await readable_room(shoal, principal.id, agency_id)
    return await shoal.membership.members_payload(room)


@router.get("/agencies/{agency_id}/messages")
async def agency_messages(
    agency_id: str,
    principal: PrincipalDep,
    shoal: ShoalDep,
    limit: int = Query(DEFAULT_HISTORY, ge=1, le=100),
    before: str | None = None,
    after_seq: int | None = Query(None, ge=0, le=MAX_INTEGER),
    mentions: str | None = None,
) -> list[dict[str, Any]]:
    """History: newest first; with after_seq, the messages after it, oldest first."""
    async with shoal.db.read() as session:
        access = await authorize_room(session, principal.id, agency_id, Action.READ)
        assert access.room is not None
        return await history(session, access.room, limit=limit, before=before,
                             after_seq=after_seq, mentions=mentions)


# A slash command answers with its own refusals: a clash (409) or a failed webhook (502).
@router.post("/agencies/{agency_id}/messages", status_code=201, responses=errors(409, 502))
async def post_message(agency_id: str, body: PostMessageBody, principal: PrincipalDep,
                       shoal: ShoalDep) -> dict[str, Any]:
    """Post a message; a slash command runs and answers with its ack (result posted)."""
    if isinstance(body.content, str) and is_command(body.content.strip()):
        ack = await shoal.command_runner.run_command(
            principal.user, agency_id, body.content.strip(), post_result=True,
            raise_refusals=True)
        if not ack["ok"]:
            raise InvalidInput(ack["error"])
        return ack
    return await shoal.chat.post(principal.user, agency_id, body.content, type=body.type,
                                 metadata=body.metadata, attachments=body.attachments)


@router.patch("/messages/{message_id}")
async def edit_message(message_id: str, body: EditMessageBody, principal: PrincipalDep,
                       shoal: ShoalDep) -> dict[str, Any]:
    """Edit a message (its author, or a house admin)."""
    return await shoal.chat.edit(principal.user, message_id, body.content, body.metadata)


@router.delete("/messages/{message_id}")
async def delete_message(message_id: str, principal: PrincipalDep, shoal: ShoalDep
                         ) -> dict[str, Any]:
    """Delete a message (its author, or a house admin); its seq stays as a tombstone."""
    return await shoal.chat.delete(principal.user, message_id)


@router.post("/agencies/{agency_id}/join")
async def join_agency(agency_id: str, principal: PrincipalDep, shoal: ShoalDep
                      ) -> dict[str, Any]:
    """Join a public room of one of your houses."""
    room = await readable_room(shoal, principal.id, agency_id)
    await shoal.membership.add_member(room, principal.id)
    async with shoal.db.read() as session:
        binding = await binding_of(session, room)
    return {"ok": True, "agency": room_view(room, is_member=True, binding=binding)}


@router.post("/agencies/{agency_id}/leave")
async def leave_agency(agency_id: str, principal: PrincipalDep, shoal: ShoalDep
                       ) -> dict[str, Any]:
    """Leave a room."""
    room = await readable_room(shoal, principal.id, agency_id)
    await shoal.membership.remove_member(room, principal.id)
    return {"ok": True}


@router.post("/agencies/{agency_id}/agents")
async def add_agent(agency_id: str, body: AddAgentBody, principal: PrincipalDep,
                    shoal: ShoalDep) -> dict[str, Any]:
    """Add a bot to a room; it gets `agency-invited`. A bot you own joins the house too."""
    room = await readable_room(shoal, principal.id, agency_id, Action.POST)
    bot: User | None = None
    async with shoal.db.read() as session:
        if body.agentId:
            bot = await session.get(User, body.agentId)
        elif body.username:
            bot = await member_by_handle(session, room.house_id, body.username)
            if bot is None:
                bot = await user_by_username(session, body.username.lstrip("@"))
        else:
            raise InvalidInput("agentId or username is required")
        if bot is None or bot.kind != "bot" or bot.deleted_at is not None:
            raise NotFound("agent not found")
        in_house = (await house_access(session, bot.id, room.house_id)).role is not None
    if not in_house:
        if bot.owner_id != principal.id:
            raise Forbidden("that agent is not in this house; only its owner can bring it in")
        async with shoal.db.write() as session:
            await add_house_member(session, room.house_id, bot, "member")
    added = await shoal.membership.add_member(room, bot.id)
    if not added:
        await shoal.membership.notify_members(room)
    return {"ok": True, "added": added, "agentId": bot.id}
