"""The contract's client-to-server socket events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shoal.commands.parser import is_command
from shoal.errors import InvalidInput
from shoal.ids import new_id
from shoal.realtime.delivery import deliver_waiting
from shoal.realtime.gateway import Gateway, SocketState, presence
from shoal.rooms.access import Action, authorize_room
from shoal.rooms.houses import member_view
from shoal.rooms.messages import MAX_HISTORY, history
from shoal.rooms.rooms import room_members
from shoal.store.tables import MAX_INTEGER, iso, utcnow

if TYPE_CHECKING:
    from shoal.commands.runner import CommandRunner
    from shoal.rooms.chat import Chat
    from shoal.store.db import Database


def room_id_of(data: dict[str, Any]) -> str:
    """The `agencyId` of a payload, or InvalidInput."""
    room_id = data.get("agencyId")
    if not isinstance(room_id, str) or not room_id:
        raise InvalidInput("agencyId is required")
    return room_id


def register_events(gateway: Gateway, db: Database, chat: Chat, commands: CommandRunner
                    ) -> None:
    """Attach every client event handler to the gateway: room joins read `db`, messages go
    through `chat`, slash commands through `commands`."""

    async def join_agency(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        room_id = room_id_of(data)
        last_seq = data.get("lastSeq")
        if last_seq is not None and (not isinstance(last_seq, int)
                                     or not 0 <= last_seq <= MAX_INTEGER):
            raise InvalidInput(f"lastSeq must be an integer from 0 to {MAX_INTEGER}")
        user = state.principal.user
        async with gateway.room_order(room_id):
            async with db.read() as session:
                access = await authorize_room(session, user.id, room_id, Action.READ)
                assert access.room is not None
                members = [
                    member_view(m, u, gateway.is_online_in(u.id, room_id) or u.id == user.id)
                    for m, u in await room_members(session, access.room)
                ]
                await gateway.enter(state, room_id)
                replayed = 0
                if last_seq is not None:
                    after = last_seq
                    while True:
                        batch = await history(session, access.room, after_seq=after,
                                              limit=MAX_HISTORY)
                        for message in batch:
                            await gateway.sio.emit("message", gateway.for_socket(state, message),
                                                   to=state.sid)
                        replayed += len(batch)
                        if len(batch) < MAX_HISTORY:
                            break
                        after = batch[-1]["seq"]
            if user.kind == "bot":
                async with db.write() as session:
                    waited = await deliver_waiting(session, user, access.room,
                                                   resumed=last_seq is not None)
                for message in waited:
                    await gateway.sio.emit("message", gateway.for_bots(message), to=state.sid)
            joined = {"agencyId": room_id, "members": members, "lastSeq": access.room.last_seq,
                      "replayed": replayed}
            await gateway.sio.emit("agency-joined", joined, to=state.sid)
        await gateway.emit_room(room_id, "member-presence", presence(state, room_id, True),
                                skip_sid=state.sid)
        return {"ok": True, **joined}

    async def leave_agency(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        room_id = room_id_of(data)
        if room_id not in state.rooms:
            # Nothing to leave; and an outsider must not announce themselves to a room.
            return {"ok": True}
        await gateway.leave(state, room_id)
        if not gateway.is_online_in(state.principal.id, room_id):
            await gateway.emit_room(room_id, "member-presence", presence(state, room_id, False))
        return {"ok": True}

    async def send_message(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        room_id = room_id_of(data)
        content = data.get("content")
        user = state.principal.user
        if isinstance(content, str) and is_command(content.strip()):
            silent = data.get("silent", True) is not False
            ack = await commands.run_command(user, room_id, content.strip(),
                                             post_result=not silent)
            if not silent and ack.get("ok") and ack.get("ephemeral"):
                await gateway.sio.emit("message", ephemeral_message(room_id, ack), to=state.sid)
            return ack
        message = await chat.post(
            user, room_id, content, type=data.get("type"), metadata=data.get("metadata"),
            attachments=data.get("attachments"),
        )
        return {"ok": True, "messageId": message["id"], "seq": message["seq"],
                "message": gateway.for_socket(state, message)}

    async def edit(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        message_id = data.get("messageId")
        if not isinstance(message_id, str):
            raise InvalidInput("messageId is required")
        view = await chat.edit(state.principal.user, message_id, data.get("content"),
                               data.get("metadata"))
        return {"ok": True, "message": view}

    async def delete(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        message_id = data.get("messageId")
        if not isinstance(message_id, str):
            raise InvalidInput("messageId is required")
        await chat.delete(state.principal.user, message_id)
        return {"ok": True}

    async def thinking(state: SocketState, data: dict[str, Any]) -> dict[str, Any]:
        room_id = room_id_of(data)
        user = state.principal.user
        status = data.get("status")
        if status is not None and (not isinstance(status, str) or len(status) > 200):
            raise InvalidInput("status must be a string of at most 200 characters")
        async with db.read() as session:
            await authorize_room(session, user.id, room_id, Action.POST)
        on = bool(data.get("thinking", True))
        await gateway.emit_agent_status(room_id, user, "thinking" if on else "idle", status,
                                        skip_sid=state.sid)
        return {"ok": True}

    gateway.on("join-agency", join_agency)
    gateway.on("leave-agency", leave_agency)
    gateway.on("send-message", send_message)
    gateway.on("edit-message", edit)
    gateway.on("delete-message", delete)
    gateway.on("agent-thinking", thinking)


def ephemeral_message(room_id: str, ack: dict[str, Any]) -> dict[str, Any]:
    """A command result shown only to whoever ran it: not stored, so it has no seq."""
    return {
        "id": new_id(),
        "agency_id": room_id,
        "agencyId": room_id,
        "content": ack["content"],
        "sender_id": "system",
        "sender_username": "system",
        "sender_display_name": "System",
        "sender_type": "system",
        "type": ack.get("type", "system"),
        "metadata": {"command": ack["command"]},
        "ephemeral": True,
        "created_at": iso(utcnow()),
    }
