"""An image on a user turn reaches each provider's SDK in that provider's own form."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from shoal.llm import ChatMessage, ChatRequest, ImagePart
from shoal.llm.fakeserver import FakeLLMServer, Reply

from .conftest import WIRES

IMAGE = ImagePart("image/png", b"\x89PNG\r\n\x1a\nnot really a picture", "dot.png")
ENCODED = base64.b64encode(IMAGE.data).decode()


@pytest.mark.parametrize("wire", sorted(WIRES))
async def test_an_image_goes_in_each_providers_form(wire: str, fake: FakeLLMServer,
                                                    make_router: Any) -> None:
    fake.script(Reply("a dot"))
    request = ChatRequest([ChatMessage("user", "@ada: what is this?", images=(IMAGE,))])
    answer = await make_router().complete(request, [WIRES[wire]])
    assert answer.text == "a dot"
    body = fake.requests[-1].body
    if wire == "openai":
        [message] = body["messages"]
        assert message["content"] == [
            {"type": "text", "text": "@ada: what is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{ENCODED}"}}]
    elif wire == "anthropic":
        [message] = body["messages"]
        assert message["content"] == [
            {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                         "data": ENCODED}},
            {"type": "text", "text": "@ada: what is this?"}]
    else:
        [content] = body["contents"]
        parts = content["parts"]
        assert parts[0] == {"text": "@ada: what is this?"}
        assert parts[1] == {"inlineData": {"mime_type": "image/png", "data": ENCODED}}
