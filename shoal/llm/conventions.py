"""Prompt conventions the runtime and every model share: the silent token, the relevance
question and the check-in prompt."""

from __future__ import annotations

from shoal.llm.types import ChatMessage, ChatRequest

NO_REPLY = "NO_REPLY"
"""A reply that is exactly this token posts nothing."""

RELEVANCE_INSTRUCTION = "Answer YES or NO."
CHECK_IN_PROMPT = (
    "Scheduled check-in. Look at the room and your tasks. "
    f"If nothing needs your attention, reply with exactly {NO_REPLY}."
)


def build_relevance_request(agent_profile: str, message: str) -> ChatRequest:
    """Ask a model whether a message concerns an agent described by `agent_profile`."""
    question = (
        f"Is the message below relevant to you, given who you are? {RELEVANCE_INSTRUCTION}\n\n"
        f"{message}"
    )
    return ChatRequest(
        system=agent_profile,
        messages=[ChatMessage("user", question)],
        max_tokens=3,
        temperature=0.0,
    )


def parse_relevance_answer(text: str) -> bool:
    """True when the model said YES (case and punctuation aside)."""
    return text.strip().lstrip("*_ ").upper().startswith("YES")


def is_silent(text: str) -> bool:
    """True when a reply is the silent token and should post nothing."""
    return text.strip() == NO_REPLY
