"""The fake provider as an agent author uses it: scripts over HTTP, per-model queues."""

from __future__ import annotations

import httpx
import openai
import pytest

from shoal.errors import InvalidInput
from shoal.llm.fakeserver import FakeLLMServer, Fault, Reply, item_from_json


async def test_script_over_http_and_request_log(fake: FakeLLMServer) -> None:
    async with httpx.AsyncClient(base_url=fake.url) as http:
        queued = await http.post(
            "/_fake/script",
            json=[
                {"text": "scripted answer"},
                {"fault": 429, "retry_after": 3},
                {"tool_calls": [{"name": "notes", "arguments": {"args": "x"}}]},
            ],
        )
        assert queued.json() == {"queued": 3}
        client = openai.AsyncOpenAI(
            api_key="sk-author", base_url=fake.openai_base_url, max_retries=0
        )
        first = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert first.choices[0].message.content == "scripted answer"
        with pytest.raises(openai.RateLimitError) as caught:
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": "hi"}]
            )
        assert caught.value.response.headers["retry-after"] == "3"
        third = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}]
        )
        assert third.choices[0].finish_reason == "tool_calls"
        assert third.choices[0].message.tool_calls[0].function.name == "notes"
        log = (await http.get("/_fake/requests")).json()
        assert [r["model"] for r in log] == ["m", "m", "m"]
        assert "sk-author" not in str(log)
        await client.close()


async def test_per_model_queues_and_default_reply(fake: FakeLLMServer) -> None:
    fake.script(Reply("for b"), model="b")
    fake.script(Fault.http(500))
    client = openai.AsyncOpenAI(api_key="k", base_url=fake.openai_base_url, max_retries=0)
    b = await client.chat.completions.create(model="b", messages=[{"role": "user", "content": "x"}])
    assert b.choices[0].message.content == "for b"
    with pytest.raises(openai.InternalServerError):
        await client.chat.completions.create(model="a", messages=[{"role": "user", "content": "x"}])
    default = await client.chat.completions.create(
        model="a", messages=[{"role": "user", "content": "x"}]
    )
    assert default.choices[0].message.content == Reply().text
    await client.close()


def test_json_script_entries() -> None:
    assert item_from_json({"fault": "stall"}) == Fault.stall()
    assert item_from_json({"fault": "context_length"}) == Fault.context_length()
    assert item_from_json({"fault": 529}) == Fault.http(529)
    with pytest.raises(InvalidInput):
        item_from_json({"fault": "explode"})
