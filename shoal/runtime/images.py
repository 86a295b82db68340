"""Images on a builtin agent's turn: the images the waking message (and its batched inputs)
carry, and those posted since the agent last spoke (an image shared just before the question
about it), reach a model that can see, each on the turn of the message that carried it. A
primary that cannot see hands such turns to the agent's `image_model` chain; without one, the
turn says in words which images it could not show."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shoal.errors import NotFound
from shoal.llm import ChatMessage, ImagePart, model_chain
from shoal.rooms.messages import history

if TYPE_CHECKING:
    from shoal.llm import HouseModels, LLMConfig, ModelRouter
    from shoal.rooms.attachments import Attachments
    from shoal.runtime.base import ActivationContext
    from shoal.runtime.sessions import StoredTurn
    from shoal.store.db import Database

log = logging.getLogger("shoal.runtime")

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")  # what every provider takes
MAX_IMAGES = 4  # per activation: the waking message's first, then the newest before it
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # the strictest provider's cap per image
RECENT_MESSAGES = 10  # how far back before the waking message images are looked for


def turn_images(messages: Sequence[Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """The image attachments of these message views, each once with the id of its message,
    at most MAX_IMAGES."""
    found: dict[str, dict[str, Any]] = {}
    for view in messages:
        for item in (view or {}).get("attachments") or []:
            if item.get("content_type") in IMAGE_TYPES and item.get("id") not in found:
                found[item["id"]] = {**item, "message_id": (view or {}).get("id")}
    return list(found.values())[:MAX_IMAGES]


def since_last_spoke(views: Sequence[Mapping[str, Any]], bot_id: str
                     ) -> list[Mapping[str, Any]]:
    """Of a room's messages before the waking one (newest first), those after the agent's
    own latest: what it has not answered yet."""
    taken = []
    for view in views:
        if view.get("sender_id") == bot_id:
            break
        if not view.get("deleted"):
            taken.append(view)
    return taken


@dataclass(frozen=True)
class TurnImages:
    """What the activation's images make of the conversation: images to show on the turns
    of the messages that carried them, or a note on the last user turn naming those the
    model cannot see (neither: the turns as they are)."""

    images: tuple[tuple[str | None, ImagePart], ...] = ()  # (message id, image)
    note: str = ""

    def onto(self, turns: list[StoredTurn]) -> list[StoredTurn]:
        """The session's turns with each image on its message's user turn (the last user
        turn when its message is not among them), or the note on the last user turn."""
        if not (self.images or self.note):
            return turns
        at_message: dict[str | None, int | None] = {
            t.message_id: i for i, t in enumerate(turns) if t.role == "user" and t.message_id}
        last = _last_user_turn([t.message for t in turns])
        placed: dict[int, list[ImagePart]] = {}
        for message_id, image in self.images:
            where = at_message.get(message_id, last)
            if where is not None:
                placed.setdefault(where, []).append(image)
        out = list(turns)
        for where, images in placed.items():
            turn = out[where]
            out[where] = dataclasses.replace(turn, message=dataclasses.replace(
                turn.message, images=(*turn.message.images, *images)))
        if self.note and last is not None:
            turn = out[last]
            out[last] = dataclasses.replace(turn, message=dataclasses.replace(
                turn.message, content=turn.message.content + self.note))
        return out


async def load_images(ctx: ActivationContext, chain: list[str], router: ModelRouter,
                      house_models: HouseModels, defaults: LLMConfig,
                      attachments: Attachments | None, db: Database, *, recent: bool
                      ) -> tuple[TurnImages, list[str]]:
    """The activation's images, read once: the waking message's, then (with `recent`) those
    of the room's last RECENT_MESSAGES before it that came after the agent's own latest,
    newest first, at most MAX_IMAGES; and the chain to call: the agent's own if its primary
    can see, else its `image_model` chain."""
    earlier: list[Mapping[str, Any]] = []
    if recent and ctx.trigger is not None and attachments is not None:
        async with db.read() as session:
            views = await history(session, ctx.room, limit=RECENT_MESSAGES,
                                  before=ctx.trigger["id"])
        earlier = since_last_spoke(views, ctx.bot.id)
    items = turn_images([ctx.trigger, *ctx.inputs, *earlier])
    if not items or attachments is None:
        return TurnImages(), chain
    sees = router.resolve_chain(chain, house_models)[0].info.vision
    if not sees:
        choice = ctx.config.image_model
        if choice is None or not choice.primary:
            names = ", ".join(item["name"] for item in items)
            log.info("@%s's model %s cannot see images and it has no image_model; "
                     "the images of activation %s are described in words", ctx.bot.username,
                     chain[0], ctx.activation.id)
            return TurnImages(note=f"\n[images attached: {names}; your model cannot see "
                                   f"images]"), chain
        chain = model_chain(choice.primary, choice.fallbacks or [], defaults.primary, [])
        router.resolve_chain(chain, house_models)  # refuses a model the house does not allow
    images = []
    for item in items:
        if item.get("size", 0) > MAX_IMAGE_BYTES:
            continue
        try:
            data = await attachments.store.read_all(item["id"])
        except NotFound:  # deleted meanwhile
            continue
        images.append((item["message_id"],
                       ImagePart(item["content_type"], data, item.get("name", ""))))
    return TurnImages(tuple(images)), chain


def _last_user_turn(turns: list[ChatMessage]) -> int | None:
    for index in range(len(turns) - 1, -1, -1):
        if turns[index].role == "user":
            return index
    return None
