"""Files attached to messages: uploads checked against the server's limits, the files a
message carries, who may read one (readers of its room, its uploader before it is posted,
anyone with a signed link), and their removal with their message."""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, BinaryIO

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.errors import (
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    TooLarge,
    Unauthorized,
    UnsupportedType,
)
from shoal.files import with_signed_links
from shoal.ids import new_id
from shoal.rooms.access import Action, authorize_room, room_access
from shoal.rooms.faces import AVATAR_TYPES, MAX_AVATAR_BYTES, avatar_id, avatar_url
from shoal.rooms.tables import Attachment
from shoal.store.tables import User, iso, utcnow

if TYPE_CHECKING:
    from shoal.files import FileStore, LinkSigner
    from shoal.store.db import Database

log = logging.getLogger("shoal.rooms.attachments")
MAX_PER_MESSAGE = 10
MAX_PENDING = 20  # a member's uploads not yet on a message
PENDING_HOURS = 24  # an upload no message took after this is deleted
SWEEP_EVERY = timedelta(hours=6)
SWEEP_GRACE = timedelta(hours=1)  # files younger than this may be uploads in flight
SWEEP_BATCH = 500
MAX_NAME_CHARS = 255
UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\]")


@dataclass(frozen=True)
class AttachmentRules:
    """The server's limits: the largest file and the content types accepted."""

    max_bytes: int
    types: tuple[str, ...]

    @classmethod
    def parse(cls, max_bytes: int, types: str) -> AttachmentRules:
        """Rules from the settings' comma-separated type list (`image/*` patterns allowed)."""
        return cls(max_bytes, tuple(t.strip().lower() for t in types.split(",") if t.strip()))

    def check_type(self, content_type: str | None) -> str:
        """The content type without parameters, or UnsupportedType naming what is accepted."""
        kind = (content_type or "application/octet-stream").split(";")[0].strip().lower()
        if not any(fnmatch.fnmatchcase(kind, pattern) for pattern in self.types):
            raise UnsupportedType(f"files of type {kind} are not accepted here; this server "
                                  f"takes {', '.join(self.types)}")
        return kind

    def check_size(self, size: int) -> None:
        """TooLarge beyond the limit."""
        if size > self.max_bytes:
            raise TooLarge(f"the file is {size} bytes; the limit is {self.max_bytes} bytes "
                           f"({self.max_bytes / 1024 / 1024:.1f} MiB)")


def clean_name(name: str | None) -> str:
    """A file name safe to show and to send back in a header: no path, no control chars."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = UNSAFE_NAME.sub("", base).strip() or "file"
    return base[-MAX_NAME_CHARS:]


def attachment_view(row: Attachment) -> dict[str, Any]:
    """An uploaded file as the API shows it."""
    return {"id": row.id, "name": row.name, "size": row.size,
            "content_type": row.content_type, "url": f"/api/attachments/{row.id}",
            "created_at": iso(row.created_at)}


def stored_form(row: Attachment) -> dict[str, Any]:
    """What a message keeps of each file it carries."""
    return {"id": row.id, "name": row.name, "size": row.size, "content_type": row.content_type}


class Attachments:
    """Uploads, reads and removals of attached files; bytes go to the file store."""

    def __init__(self, db: Database, store: FileStore, rules: AttachmentRules,
                 signer: LinkSigner) -> None:
        self.db = db
        self.store = store
        self.rules = rules
        self.signer = signer
        self._sweeper: asyncio.Task[None] | None = None

    async def may_upload(self, user: User, room_id: str) -> None:
        """Refuse someone who may not post in the room, before their file is read."""
        async with self.db.read() as session:
            await authorize_room(session, user.id, room_id, Action.POST)

    async def upload(self, user: User, room_id: str, name: str | None,
                     content_type: str | None, source: BinaryIO, size: int
                     ) -> dict[str, Any]:
        """Keep a file someone who may post in the room uploaded; not yet on any message."""
        kind = self.rules.check_type(content_type)
        self.rules.check_size(size)
        async with self.db.read() as session:
            access = await authorize_room(session, user.id, room_id, Action.POST)
        await self._limit_pending(user)
        row = Attachment(id=new_id(), house_id=access.house_id, room_id=room_id,
                         uploader_id=user.id, name=clean_name(name), content_type=kind,
                         size=size)
        row.size = await self.store.save(row.id, source)
        try:
            async with self.db.write() as session:
                session.add(row)
        except BaseException:
            await self.store.delete(row.id)
            raise
        return attachment_view(row)

    async def _limit_pending(self, user: User) -> None:
        """Delete the member's uploads no message took in a day, then refuse one more when
        they already have MAX_PENDING waiting (the count is in the database, so it holds
        across processes)."""
        async with self.db.write() as session:
            old = await drop_expired_uploads(session, user.id)
            waiting = await session.scalar(select(func.count()).select_from(Attachment).where(
                Attachment.uploader_id == user.id, Attachment.kind == "attachment",
                Attachment.message_id.is_(None)))
        await self.remove(old)
        if (waiting or 0) >= MAX_PENDING:
            log.info("@%s has %d uploads waiting for a message; one more was refused",
                     user.username, waiting)
            raise RateLimited(f"you have {waiting} uploaded files that no message carries yet; "
                              "post them (or wait a day for them to expire) before uploading "
                              "more", retry_after=60)

    async def for_message(self, user_id: str, room_id: str, ids: object
                          ) -> list[dict[str, Any]]:
        """The files a new message by `user_id` in `room_id` may carry: their own uploads to
        that room that no message carries yet."""
        if ids is None or ids == []:
            return []
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise InvalidInput("attachments must be a list of attachment ids")
        wanted = list(dict.fromkeys(ids))
        if len(wanted) > MAX_PER_MESSAGE:
            raise InvalidInput(f"a message carries at most {MAX_PER_MESSAGE} attachments")
        async with self.db.read() as session:
            rows = {row.id: row for row in await session.scalars(
                select(Attachment).where(Attachment.id.in_(wanted)))}
        for attachment_id in wanted:
            row = rows.get(attachment_id)
            if row is None or row.uploader_id != user_id or row.kind != "attachment":
                raise InvalidInput(f"attachment {attachment_id} is not one of your uploads")
            if row.room_id != room_id:
                raise InvalidInput(f"attachment {attachment_id} was uploaded to another room")
            if row.message_id is not None:
                raise Conflict(f"attachment {attachment_id} is already on a message")
        return [stored_form(rows[i]) for i in wanted]

    async def readable(self, user: User | None, attachment_id: str, *,
                       expires: str | None = None, sig: str | None = None) -> Attachment:
        """The file's record, if the caller may read it: a valid signed link, or a session
        of someone who can read its room (only its uploader, before it is posted)."""
        async with self.db.read() as session:
            row = await session.get(Attachment, attachment_id)
            if row is None:
                raise NotFound("attachment not found")
            if sig is not None or expires is not None:
                if self.signer.verify(attachment_id, expires, sig):
                    return row
                raise Forbidden("this attachment link is invalid or has expired; ask for a "
                                "new one")
            if user is None:
                raise Unauthorized("authentication required: send Authorization: Bearer "
                                   "<token>, or use a signed link")
            if row.kind == "avatar":
                return row
            if row.message_id is None:
                if row.uploader_id != user.id:
                    raise NotFound("attachment not found")
                return row
            assert row.room_id is not None
            access = await room_access(session, user.id, row.room_id)
            if not access.allows(Action.READ):
                raise NotFound("attachment not found")
            return row

    def read(self, row: Attachment) -> AsyncIterator[bytes]:
        """The file's bytes, in chunks."""
        return self.store.read(row.id)

    def link(self, attachment_id: str) -> dict[str, Any]:
        """A signed link to one file, absolute when the server knows its address."""
        url, expires = self.signer.sign(attachment_id)
        return {"url": url, "expires": expires}

    def with_links(self, views: Sequence[dict[str, Any] | None]) -> None:
        """Give every attachment of these message views a signed link (`signed_url`,
        `signed_url_expires`): for receivers without a session, such as webhooks."""
        for view in views:
            if view and view.get("attachments"):
                view["attachments"] = with_signed_links(self.signer, view["attachments"])

    async def set_avatar(self, target: User, name: str | None, content_type: str | None,
                         source: BinaryIO, size: int) -> str:
        """Keep an image as the member's avatar (replacing any earlier one); answers its
        address. Images only, at most 2 MiB (or the attachment limit, if lower)."""
        kind = (content_type or "").split(";")[0].strip().lower()
        if kind not in AVATAR_TYPES:
            raise UnsupportedType(f"an avatar must be an image ({', '.join(AVATAR_TYPES)}), "
                                  f"not {kind or 'an unknown type'}")
        AttachmentRules(min(self.rules.max_bytes, MAX_AVATAR_BYTES), ()).check_size(size)
        row = Attachment(id=new_id(), uploader_id=target.id, kind="avatar",
                         name=clean_name(name), content_type=kind, size=size)
        row.size = await self.store.save(row.id, source)
        try:
            old = await self._swap_avatar(target, row)
        except BaseException:
            await self.store.delete(row.id)
            raise
        await self.remove(old)
        return avatar_url(target)

    async def clear_avatar(self, target: User) -> str:
        """Back to the drawn avatar; answers its address."""
        await self.remove(await self._swap_avatar(target, None))
        return avatar_url(target)

    async def _swap_avatar(self, target: User, row: Attachment | None) -> list[str]:
        async with self.db.write() as session:
            user = await session.get(User, target.id)
            if user is None:
                raise NotFound("user not found")
            old = avatar_id(user)
            if row is not None:
                session.add(row)
            config = {k: v for k, v in (user.config or {}).items() if k != "avatar"}
            if row is not None:
                config["avatar"] = row.id
            user.config = config
            target.config = config
            if old:
                await session.execute(delete(Attachment).where(Attachment.id == old))
        return [old] if old else []

    async def avatar(self, user: User) -> Attachment | None:
        """The member's uploaded avatar, if any."""
        uploaded = avatar_id(user)
        if uploaded is None:
            return None
        async with self.db.read() as session:
            return await session.get(Attachment, uploaded)

    async def sweep(self) -> int:
        """Delete what nothing may read any more: uploads no message took in a day (record
        and bytes), and files whose record is gone. A record goes first, in its transaction
        (a message deleted, a room or house removed with its records), and its bytes after
        the commit; a process that stops between leaves bytes that no one is served (reads
        go through the record) and that this sweep deletes. Only files older than
        SWEEP_GRACE are looked at: an upload's bytes are written just before its record.
        Answers how many files it deleted."""
        async with self.db.write() as session:
            expired = await drop_expired_uploads(session)
        orphans = list(expired)
        expired_ids = set(expired)
        keys = await self.store.keys_older_than(SWEEP_GRACE.total_seconds())
        for start in range(0, len(keys), SWEEP_BATCH):
            batch = keys[start:start + SWEEP_BATCH]
            async with self.db.read() as session:
                kept = set(await session.scalars(
                    select(Attachment.id).where(Attachment.id.in_(batch))))
            orphans.extend(key for key in batch if key not in kept and key not in expired_ids)
        await self.remove(orphans)
        if orphans:
            log.info("deleted %d files no one may read any more (%d expired uploads)",
                     len(orphans), len(expired))
        return len(orphans)

    async def start_sweeping(self) -> None:
        """Sweep now, then every SWEEP_EVERY, for the rest of the process's life (every
        process: each keeps its own data directory's files)."""
        async def loop() -> None:
            while True:
                try:
                    await self.sweep()
                except Exception:  # the next round tries again
                    log.exception("sweeping attachment files failed")
                await asyncio.sleep(SWEEP_EVERY.total_seconds())

        self._sweeper = asyncio.create_task(loop(), name="shoal-file-sweep")

    async def stop(self) -> None:
        """Stop sweeping."""
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
            self._sweeper = None

    async def remove(self, ids: Sequence[str]) -> None:
        """Delete the files of records already removed (after their transaction commits)."""
        for attachment_id in ids:
            try:
                await self.store.delete(attachment_id)
            except OSError:
                log.warning("could not delete the file of attachment %s", attachment_id)


async def claim(session: AsyncSession, message_id: str, items: Sequence[dict[str, Any]]) -> None:
    """Mark uploads as carried by a message; Conflict if another message took one first."""
    ids = [item["id"] for item in items]
    result = await session.execute(
        update(Attachment).where(Attachment.id.in_(ids), Attachment.message_id.is_(None))
        .values(message_id=message_id))
    if getattr(result, "rowcount", len(ids)) != len(ids):
        raise Conflict("one of the attachments is already on another message")


async def drop_message_files(session: AsyncSession, message_id: str) -> list[str]:
    """Remove the records of a message's files; answers their ids, whose bytes the caller
    deletes once the transaction commits."""
    ids = list(await session.scalars(
        select(Attachment.id).where(Attachment.message_id == message_id)))
    if ids:
        await session.execute(delete(Attachment).where(Attachment.id.in_(ids)))
    return ids


async def drop_expired_uploads(session: AsyncSession, uploader_id: str | None = None
                               ) -> list[str]:
    """Remove the records of uploads no message took in PENDING_HOURS (one member's, or
    everyone's); answers their ids, whose bytes the caller deletes once this commits."""
    query = select(Attachment.id).where(
        Attachment.kind == "attachment", Attachment.message_id.is_(None),
        Attachment.created_at < utcnow() - timedelta(hours=PENDING_HOURS))
    if uploader_id is not None:
        query = query.where(Attachment.uploader_id == uploader_id)
    ids = list(await session.scalars(query))
    if ids:
        await session.execute(delete(Attachment).where(Attachment.id.in_(ids)))
    return ids
