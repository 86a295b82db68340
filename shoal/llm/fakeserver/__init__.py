"""A fake model provider speaking the OpenAI, Anthropic and Gemini wire formats."""

from shoal.llm.fakeserver.script import FakeToolCall, Fault, Reply, ScriptItem, item_from_json
from shoal.llm.fakeserver.server import FakeLLMServer, RecordedRequest, load_script, serve_in_thread

__all__ = [
    "FakeLLMServer",
    "FakeToolCall",
    "Fault",
    "RecordedRequest",
    "Reply",
    "ScriptItem",
    "item_from_json",
    "load_script",
    "serve_in_thread",
]
