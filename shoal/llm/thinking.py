"""Thinking levels: how much a model reasons before it answers (`off`, `low`, `medium`,
`high`), and what each level is in each provider's terms."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from shoal.llm.refs import ResolvedModel
    from shoal.llm.types import ChatRequest

log = logging.getLogger("shoal.llm")

Thinking = Literal["off", "low", "medium", "high"]
LEVELS: tuple[Thinking, ...] = ("off", "low", "medium", "high")
# Anthropic's and Gemini's thinking budgets, in tokens; OpenAI takes the level's name as its
# reasoning effort.
BUDGETS = {"low": 1024, "medium": 4096, "high": 16384}


def check_level(value: object, what: str = "thinking") -> Thinking:
    """A level, or ValueError naming the ones there are."""
    if value not in LEVELS:
        raise ValueError(f"{what} must be one of {', '.join(LEVELS)}")
    return value


def thinking_for(model: ResolvedModel, request: ChatRequest) -> str | None:
    """The level this call reasons at: None when off, or when the model has no reasoning to
    set (said once in the log per call)."""
    level = request.thinking
    if level is None or level == "off":
        return None
    if not model.info.reasoning:
        log.info("%s has no reasoning level to set; thinking %s is ignored for it",
                 model.ref, level)
        return None
    return level
