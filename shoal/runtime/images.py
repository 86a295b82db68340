"""Images on a builtin agent's turn: the images the waking message (and its batched inputs)
carry reach a model that can see. A primary that cannot see hands such turns to the agent's
`image_model` chain; without one, the turn says in words which images it could not show."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shoal.errors import NotFound
from shoal.llm import ChatMessage, ImagePart, model_chain

if TYPE_CHECKING:
    from shoal.llm import HouseModels, LLMConfig, ModelRouter
    from shoal.rooms.attachments import Attachments
    from shoal.runtime.base import ActivationContext

log = logging.getLogger("shoal.runtime")

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")  # what every provider takes
MAX_IMAGES = 4  # per turn
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # the strictest provider's cap per image


def turn_images(messages: Sequence[Mapping[str, Any] | None]) -> list[dict[str, Any]]:
    """The image attachments of these message views, each once, at most MAX_IMAGES."""
    found: dict[str, dict[str, Any]] = {}
    for view in messages:
        for item in (view or {}).get("attachments") or []:
            if item.get("content_type") in IMAGE_TYPES and item.get("id") not in found:
                found[item["id"]] = item
    return list(found.values())[:MAX_IMAGES]


@dataclass(frozen=True)
class TurnImages:
    """What the waking message's images make of the conversation's last user turn: images
    to show, or a note naming those the model cannot see (neither: the turns as they are)."""

    images: tuple[ImagePart, ...] = ()
    note: str = ""

    def on(self, turns: list[ChatMessage]) -> list[ChatMessage]:
        """The turns with the images (or the note) on the last user turn."""
        at = _last_user_turn(turns)
        if at is None or not (self.images or self.note):
            return turns
        if self.images:
            return _replace(turns, at, images=self.images)
        return _replace(turns, at, content=turns[at].content + self.note)


async def load_images(ctx: ActivationContext, chain: list[str], router: ModelRouter,
                      house_models: HouseModels, defaults: LLMConfig,
                      attachments: Attachments | None) -> tuple[TurnImages, list[str]]:
    """The waking message's images, read once for the activation, and the chain to call:
    the agent's own if its primary can see, else its `image_model` chain."""
    items = turn_images([ctx.trigger, *ctx.inputs])
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
        images.append(ImagePart(item["content_type"], data, item.get("name", "")))
    return TurnImages(tuple(images)), chain


def _last_user_turn(turns: list[ChatMessage]) -> int | None:
    for index in range(len(turns) - 1, -1, -1):
        if turns[index].role == "user":
            return index
    return None


def _replace(turns: list[ChatMessage], at: int, **changes: Any) -> list[ChatMessage]:
    return [*turns[:at], dataclasses.replace(turns[at], **changes), *turns[at + 1:]]
