"""Files attached to messages: upload to a room, read back, signed links."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from shoal.api.deps import CredentialsDep, PrincipalDep, ShoalDep
from shoal.api.openapi import errors
from shoal.errors import InvalidInput

router = APIRouter(prefix="/api", tags=["attachments"])

# Shown in the page where they are: images a browser draws itself (an SVG may hold scripts, so
# it is downloaded like any other file).
INLINE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")
UPLOAD_BODY = {
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}}}}}},
}


@router.post("/agencies/{agency_id}/attachments", status_code=201,
             responses=errors(413, 415, 429), openapi_extra=UPLOAD_BODY)
async def upload_attachment(agency_id: str, request: Request, principal: PrincipalDep,
                            shoal: ShoalDep) -> dict[str, Any]:
    """Upload one file (multipart form field `file`) to a room you may post in; answers
    `{id, name, size, content_type, url}`. Post it with a message's `attachments: [id]`.
    A file over the size limit is a 413, a type the server does not take a 415."""
    await shoal.attachments.may_upload(principal.user, agency_id)  # before reading the body
    async with request.form(max_files=1, max_fields=4) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput('send the file as multipart/form-data in a field named "file"')
        size = upload.size if upload.size is not None else 0
        return await shoal.attachments.upload(principal.user, agency_id, upload.filename,
                                              upload.content_type, upload.file, size)


FILE_ANSWER: dict[int | str, dict[str, Any]] = {200: {
    "description": "The file's bytes, in its own content type.",
    "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}}}}


@router.get("/attachments/{attachment_id}", response_class=StreamingResponse,
            responses={**FILE_ANSWER, **errors(401, 403, 404)})
async def read_attachment(attachment_id: str, request: Request, credentials: CredentialsDep,
                          shoal: ShoalDep, expires: str | None = None,
                          sig: str | None = None) -> StreamingResponse:
    """A file's bytes, for those who can read its room (before it is posted, its uploader),
    or anyone holding a signed link (`?expires=..&sig=..`, from `POST .../link`)."""
    user = None
    if sig is None and expires is None:
        token = credentials.credentials.strip() if credentials else ""
        if token:
            user = (await shoal.authenticate(token)).user
    row = await shoal.attachments.readable(user, attachment_id, expires=expires, sig=sig)
    disposition = "inline" if row.content_type in INLINE_TYPES else "attachment"
    headers = {
        "Content-Length": str(row.size),
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(row.name)}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, max-age=300",
    }
    return StreamingResponse(shoal.attachments.read(row), media_type=row.content_type,
                             headers=headers)


@router.post("/attachments/{attachment_id}/link", responses=errors(404))
async def attachment_link(attachment_id: str, principal: PrincipalDep, shoal: ShoalDep
                          ) -> dict[str, Any]:
    """A short-lived signed link to a file you can read, for a program without your
    session (absolute when the server's `public_url` is set): `{url, expires}`."""
    row = await shoal.attachments.readable(principal.user, attachment_id)
    return shoal.attachments.link(row.id)
