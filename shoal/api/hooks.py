"""Hooks: house admins manage them; other systems post through them with the hook's key, or
with deliveries signed by its secret (GitHub, Sentry, or Shoal's own signature)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field
from sqlalchemy import select

from shoal.api.deps import PrincipalDep, ShoalDep, get_shoal
from shoal.api.openapi import NOT_BLANK, checked, errors
from shoal.hooks.manage import (
    MAX_HOOK_NAME,
    SECRET_CHARS,
    check_hook_name,
    check_secret,
    create_hook,
    hook_view,
    house_hook,
    live,
    resolve_rooms,
    revoke,
    rotate_key,
    update_hook,
)
from shoal.hooks.tables import Hook
from shoal.rooms.access import Action, authorize_house

router = APIRouter(prefix="/api", tags=["hooks"])


# Declares the hook key in the OpenAPI document; `X-Shoal-Hook-Key` or a bearer hook key also
# do, as `presented_key` reads them.
HOOK_KEY = APIKeyHeader(name="X-Crustocean-Hook-Key", auto_error=False, scheme_name="hookKey",
                        description="The key Shoal showed when the hook was created.")


async def get_hook(request: Request, _: Annotated[str | None, Depends(HOOK_KEY)]) -> Hook:
    """The hook whose key the request carries, or 401."""
    return await get_shoal(request).hooks.authenticate(request.headers)


HookDep = Annotated[Hook, Depends(get_hook)]
RoomQuery = Query(None, alias="room", max_length=200,
                  description="The room to post in (id or slug), when the hook has several.")
# The receivers read the body themselves (its bytes are what the signature covers).
RECEIVER: dict[str, Any] = {
    "responses": errors(401, 403, 429),
    "openapi_extra": {"requestBody": {"required": True, "content": {
        "application/json": {"schema": {"type": "object"}}}}},
}


HookName = Annotated[str, Field(min_length=1, max_length=MAX_HOOK_NAME, pattern=NOT_BLANK),
                     checked(check_hook_name)]
Secret = Annotated[str, Field(min_length=SECRET_CHARS[0], max_length=SECRET_CHARS[1]),
                   checked(check_secret)]


class CreateHookBody(BaseModel):
    name: HookName
    rooms: list[str] = Field(description="Ids or slugs of the rooms the hook may post to.")
    template: str | None = Field(None, description="How a delivery reads; none (null or "
                                 "absent) posts the payload's own text or a summary.")
    secret: Secret | None = Field(None, description="The signing secret (Sentry's client "
                               "secret); Shoal generates one when none is given.")


class UpdateHookBody(BaseModel):
    name: HookName | None = None
    rooms: list[str] | None = None
    template: str | None = Field(None, description="A new template; null removes it, absent "
                                 "keeps it.")
    secret: Secret | None = None


class HookMessageBody(BaseModel):
    agencyId: str | None = Field(None, description="The room: id or slug; optional when "
                                 "the hook posts to one room only.")
    content: Any = None
    type: str | None = None
    metadata: Any = None


class HookEditBody(BaseModel):
    content: Any = None
    metadata: Any = None


@router.get("/houses/{house_id}/hooks")
async def list_hooks(house_id: str, principal: PrincipalDep, shoal: ShoalDep
                     ) -> list[dict[str, Any]]:
    """The house's hooks, revoked ones included (house admins)."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_HOOKS)
        hooks = (await session.scalars(
            select(Hook).where(Hook.house_id == house_id).order_by(Hook.created_at))).all()
    return [hook_view(hook) for hook in hooks]


@router.post("/houses/{house_id}/hooks", status_code=201, responses=errors(409))
async def new_hook(house_id: str, body: CreateHookBody, principal: PrincipalDep,
                   shoal: ShoalDep) -> dict[str, Any]:
    """A hook posting into some of the house's rooms. Its `key` is shown only now, and its
    `secret` too when Shoal generated it."""
    async with shoal.db.write() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_HOOKS)
        room_ids = await resolve_rooms(session, principal.id, house_id, body.rooms)
        hook, key, generated = await create_hook(
            session, shoal.secrets, house_id=house_id, creator_id=principal.id, name=body.name,
            room_ids=room_ids, template=body.template or "", secret=body.secret)
    shown = {"key": key} | ({"secret": generated} if generated else {})
    return {**hook_view(hook), **shown}


@router.get("/houses/{house_id}/hooks/{hook_id}")
async def show_hook(house_id: str, hook_id: str, principal: PrincipalDep, shoal: ShoalDep
                    ) -> dict[str, Any]:
    """One hook, without its key or secret."""
    async with shoal.db.read() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_HOOKS)
        return hook_view(await house_hook(session, house_id, hook_id))


@router.patch("/houses/{house_id}/hooks/{hook_id}", responses=errors(409))
async def change_hook(house_id: str, hook_id: str, body: UpdateHookBody,
                      principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """Rename a hook, change its rooms, template or secret; its key stays."""
    async with shoal.db.write() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_HOOKS)
        hook = live(await house_hook(session, house_id, hook_id))
        room_ids = (await resolve_rooms(session, principal.id, house_id, body.rooms)
                    if body.rooms is not None else None)
        template = ((body.template or "") if "template" in body.model_fields_set else None)
        await update_hook(session, shoal.secrets, hook, name=body.name, room_ids=room_ids,
                          template=template, secret=body.secret)
        return hook_view(hook)


@router.post("/houses/{house_id}/hooks/{hook_id}/rotate", responses=errors(409))
async def rotate_hook_key(house_id: str, hook_id: str, principal: PrincipalDep,
                          shoal: ShoalDep) -> dict[str, Any]:
    """A new key for the hook, shown only now; the old key stops working at once."""
    async with shoal.db.write() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_HOOKS)
        hook = await house_hook(session, house_id, hook_id)
        key = rotate_key(hook)
        return {**hook_view(hook), "key": key}


@router.delete("/houses/{house_id}/hooks/{hook_id}")
async def revoke_hook(house_id: str, hook_id: str, principal: PrincipalDep, shoal: ShoalDep
                      ) -> dict[str, Any]:
    """Revoke a hook: its key and signed deliveries are refused from now on."""
    async with shoal.db.write() as session:
        await authorize_house(session, principal.id, house_id, Action.MANAGE_HOOKS)
        return hook_view(revoke(await house_hook(session, house_id, hook_id)))


@router.post("/hooks/messages", status_code=201, responses=errors(404, 429))
async def post_hook_message(body: HookMessageBody, hook: HookDep, shoal: ShoalDep
                            ) -> dict[str, Any]:
    """Post into one of the hook's rooms (`X-Crustocean-Hook-Key`); the agents it
    @mentions wake. Returns the stored message."""
    return await shoal.hooks.post(hook, body.agencyId, body.content, type=body.type,
                                  metadata=body.metadata)


@router.patch("/hooks/messages/{message_id}", responses=errors(429))
async def edit_hook_message(message_id: str, body: HookEditBody, hook: HookDep,
                            shoal: ShoalDep) -> dict[str, Any]:
    """Edit a message this hook posted (`X-Crustocean-Hook-Key`)."""
    return await shoal.hooks.edit(hook, message_id, body.content, body.metadata)


@router.post("/hooks/{hook_id}/github", status_code=201, **RECEIVER)
async def receive_github(hook_id: str, request: Request, shoal: ShoalDep,
                         room: str | None = RoomQuery) -> dict[str, Any]:
    """GitHub's webhook: signed with the hook's secret (`X-Hub-Signature-256`), posted as a
    one-line summary or through the hook's template. Returns the stored message."""
    return await shoal.hooks.receive(hook_id, "github", request.headers,
                                     await request.body(), room)


@router.post("/hooks/{hook_id}/sentry", status_code=201, **RECEIVER)
async def receive_sentry(hook_id: str, request: Request, shoal: ShoalDep,
                         room: str | None = RoomQuery) -> dict[str, Any]:
    """Sentry's integration webhook: signed with the hook's secret (Sentry's client secret,
    `Sentry-Hook-Signature`). Returns the stored message."""
    return await shoal.hooks.receive(hook_id, "sentry", request.headers,
                                     await request.body(), room)


@router.post("/hooks/{hook_id}/generic", status_code=201, **RECEIVER)
async def receive_generic(hook_id: str, request: Request, shoal: ShoalDep,
                          room: str | None = RoomQuery) -> dict[str, Any]:
    """Any JSON object, rendered through the hook's template (or its `content`, `text`,
    `message` or `title`); with the hook key, or `X-Shoal-Signature` over `timestamp.body`."""
    return await shoal.hooks.receive(hook_id, "generic", request.headers,
                                     await request.body(), room)
