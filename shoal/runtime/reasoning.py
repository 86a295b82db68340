"""An agent's reasoning: the level it thinks at (its own `thinking`, else its house's
`thinking_default`, else the server's), the prompt's Reasoning Format section for models that
do not reason natively, and the `<think>` blocks such models write, kept out of the reply."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from shoal.config import Settings
    from shoal.runtime.base import ActivationContext
    from shoal.runtime.runlog import TextSink

THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.S | re.I)
PARTIAL_TAG = re.compile(r"<think|<(t(h(i(nk?)?)?)?)?$", re.I)  # an opening tag not yet whole
PARTIAL_CLOSE = re.compile(r"<(/(t(h(i(nk?)?)?)?)?)?$", re.I)  # a closing tag not yet whole
REASONING_FORMAT = (
    "## Reasoning Format\n"
    "Think before you answer, {depth}. Put all of your reasoning inside <think>...</think> "
    "at the start of your reply, then give only the answer after it. Nothing inside "
    "<think> is shown to the room.")
DEPTH = {"low": "briefly", "medium": "step by step", "high": "carefully and at length, "
         "checking your work"}


def thinking_level(ctx: ActivationContext, settings: Settings) -> str:
    """off, low, medium or high, for this activation: a sub-agent's as its spawn asked, else
    the agent's own, else its house's, else the server's."""
    spawned = (ctx.activation.payload or {}).get("thinking")
    if spawned in ("off", "low", "medium", "high"):
        return str(spawned)
    own = ctx.config.thinking
    if own is not None:
        return own
    house = (ctx.house.settings or {}).get("thinking_default")
    return str(house) if house else settings.thinking_default


def reasoning_section(level: str, native: bool) -> str:
    """The prompt's Reasoning Format section: only for a level above off on a model that
    does not reason by itself."""
    if level == "off" or native:
        return ""
    return REASONING_FORMAT.format(depth=DEPTH.get(level, "step by step"))


def split_thinking(text: str) -> tuple[str, str]:
    """(the reply without its <think> blocks, the reasoning they held)."""
    found = [m.strip() for m in THINK.findall(text)]
    if not found:
        return text, ""
    return THINK.sub("", text).strip(), "\n\n".join(t for t in found if t)


def think_stream(text: TextSink, reasoning: TextSink) -> TextSink:
    """A model's text stream split in two as it arrives: what is outside <think> blocks goes
    to `text` (so a run's live answer never shows the reasoning), what is inside to
    `reasoning` (the run's reasoning section, growing live)."""
    shown = thought = ""

    async def push(delta: str, content: str) -> None:
        nonlocal shown, thought
        so_far = _thinking_so_far(content)
        if len(so_far) > len(thought):
            new = so_far[len(thought):] if so_far.startswith(thought) else ""
            thought = so_far
            await reasoning(new, thought)
        visible = THINK.sub("", content)
        if PARTIAL_TAG.search(visible):
            return  # a tag still arriving
        visible = visible.lstrip()
        if visible.startswith(shown) and len(visible) > len(shown):
            new, shown = visible[len(shown):], visible
            await text(new, shown)
    return push


def _thinking_so_far(content: str) -> str:
    """The reasoning of the <think> blocks a streamed text holds so far, the last one maybe
    still open (without the start of its closing tag)."""
    found = []
    for match in THINK.finditer(content):
        text = match.group(1)
        if not match.group(0).lower().endswith("</think>"):  # still open
            text = PARTIAL_CLOSE.sub("", text)
        found.append(text.strip())
    return "\n\n".join(t for t in found if t)
