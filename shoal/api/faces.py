"""Avatars: upload your own or your bot's, and every member's avatar (uploaded, or drawn
from their name) for those who share a house with them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from sqlalchemy.orm import aliased
from starlette.datastructures import UploadFile

from shoal.api.agents import manageable_bot
from shoal.api.attachments import UPLOAD_BODY
from shoal.api.deps import PrincipalDep, ShoalDep
from shoal.api.openapi import errors
from shoal.core import Shoal
from shoal.errors import InvalidInput, NotFound
from shoal.rooms.faces import generated_avatar
from shoal.store.tables import HouseMember, User

router = APIRouter(prefix="/api", tags=["avatars"])


async def _uploaded(request: Request, shoal: Shoal, target: User) -> dict[str, Any]:
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput('send the image as multipart/form-data in a field named "file"')
        url = await shoal.attachments.set_avatar(target, upload.filename, upload.content_type,
                                                 upload.file, upload.size or 0)
    return {"avatar_url": url}


@router.put("/me/avatar", responses=errors(413, 415), openapi_extra=UPLOAD_BODY)
async def set_my_avatar(request: Request, principal: PrincipalDep, shoal: ShoalDep
                        ) -> dict[str, Any]:
    """Upload your avatar (multipart field `file`: PNG, JPEG, GIF or WebP, up to 2 MiB);
    answers its address, `{avatar_url}`."""
    return await _uploaded(request, shoal, principal.user)


@router.delete("/me/avatar")
async def clear_my_avatar(principal: PrincipalDep, shoal: ShoalDep) -> dict[str, Any]:
    """Go back to the avatar drawn from your name."""
    return {"avatar_url": await shoal.attachments.clear_avatar(principal.user)}


@router.put("/agents/{agent_id}/avatar", responses=errors(413, 415),
            openapi_extra=UPLOAD_BODY)
async def set_agent_avatar(agent_id: str, request: Request, principal: PrincipalDep,
                           shoal: ShoalDep) -> dict[str, Any]:
    """Upload a bot's avatar (its owner, or an admin of a house it is in)."""
    bot = await manageable_bot(shoal, principal, agent_id)
    return await _uploaded(request, shoal, bot)


@router.delete("/agents/{agent_id}/avatar")
async def clear_agent_avatar(agent_id: str, principal: PrincipalDep, shoal: ShoalDep
                             ) -> dict[str, Any]:
    """Go back to the bot's drawn avatar."""
    bot = await manageable_bot(shoal, principal, agent_id)
    return {"avatar_url": await shoal.attachments.clear_avatar(bot)}


@router.get("/users/{user_id}/avatar", response_class=Response,
            responses={200: {"description": "The avatar: an uploaded image, or SVG.",
                             "content": {"image/*": {"schema": {"type": "string",
                                                                "format": "binary"}}}},
                       **errors(404)})
async def user_avatar(user_id: str, principal: PrincipalDep, shoal: ShoalDep) -> Response:
    """A member's avatar: the image they uploaded, or an SVG of their initials on a colour of
    their own. Served to those who share a house with them."""
    mine, theirs = aliased(HouseMember), aliased(HouseMember)
    async with shoal.db.read() as session:
        user = await session.get(User, user_id)
        shared = user_id == principal.id or (await session.scalar(
            select(mine.house_id).join(theirs, theirs.house_id == mine.house_id)
            .where(mine.user_id == principal.id, theirs.user_id == user_id).limit(1)
        )) is not None
    if user is None or not shared:
        raise NotFound("user not found")
    headers = {"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=300",
               "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                                          "sandbox"}
    row = await shoal.attachments.avatar(user)
    if row is None:
        return Response(generated_avatar(user), media_type="image/svg+xml", headers=headers)
    return StreamingResponse(shoal.attachments.read(row), media_type=row.content_type,
                             headers={**headers, "Content-Length": str(row.size)})
