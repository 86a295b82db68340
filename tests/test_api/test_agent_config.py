"""`GET/PATCH /api/agents/{id}/config`: every setting of the issue, the contract's names,
secrets never shown, and invalid values refused with a reason."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support import House, ShoalServer, make_house, unique


async def house_bot(house: House) -> str:
    r = await house.member.post("/api/agents", {"name": unique("bot"), "houseId": house.id})
    assert r.status_code == 201, r.text
    return str(r.json()["agent"]["id"])


async def test_every_setting_round_trips_and_secrets_stay_hidden(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    route = f"/api/agents/{bot}/config"
    patch = {
        "description": "Reviews pull requests.", "runtime": "webhook",
        "model": {"primary": "offline/shoal-offline", "fallbacks": ["ollama/llama3.2"]},
        "system_prompt": "# Reviewer\nBe kind.", "trigger_mode": "ambient",
        "trigger_policy": "whitelist", "trigger_whitelist": ["@Alice", "bob"],
        "busy_policy": "collect",
        "tools": {"allow": ["notes", "get*"], "deny": ["clearnote"], "approval": ["save"]},
        "response_webhook_url": "https://hooks.example/agent?key=abc",
        "response_webhook_secret": "whsec-very-secret", "llm_provider": "ollama",
        "llm_api_key": "sk-also-secret",
        "max_hops": 7, "daily_token_budget": 50_000,
        "compaction": {"reserve_tokens": 4000}, "pruning": {"keep_last_assistants": 5},
    }
    r = await house.member.patch(route, patch)
    assert r.status_code == 200, r.text
    config = (await house.member.get(route)).json()["config"]
    assert r.json()["config"] == config
    for key in ("description", "runtime", "model", "system_prompt", "trigger_mode",
                "trigger_policy", "busy_policy", "tools", "response_webhook_url", "max_hops",
                "daily_token_budget", "compaction", "pruning"):
        assert config[key] == patch[key], key
    assert config["trigger_whitelist"] == ["alice", "bob"]
    assert config["personality"] == "# Reviewer\nBe kind."
    assert config["response_webhook_secret"] is True and config["llm_api_key"] is True
    assert "very-secret" not in r.text and "also-secret" not in str(config)
    # The contract's names, and null back to the default.
    r = await house.member.patch(route, {"personality": "Terse.", "ollama_model": "qwen2.5",
                                         "response_webhook_secret": None, "max_hops": None})
    config = r.json()["config"]
    assert config["system_prompt"] == "Terse." and config["ollama_model"] == "qwen2.5"
    assert config["model"]["primary"] == "ollama/qwen2.5"
    assert config["model"]["fallbacks"] == ["ollama/llama3.2"]
    assert config["response_webhook_secret"] is False and config["max_hops"] == 20


@pytest.mark.parametrize(("patch", "error"), [
    ({"colour": "red"}, "unknown config key 'colour'"),
    ({"runtime": "lambda"}, "runtime"),
    ({"trigger_mode": "always"}, "trigger_mode"),
    ({"busy_policy": "drop"}, "busy_policy"),
    ({"max_hops": 0}, "max_hops"),
    ({"daily_token_budget": -5}, "daily_token_budget"),
    ({"tools": "everything"}, "tools"),
    ({"system_prompt": "x" * 20_001}, "system_prompt"),
    ({"response_webhook_secret": ""}, "response_webhook_secret must be a non-empty string"),
    ({"response_webhook_url": "ftp://files.example/x"}, "only http:// and https://"),
    ({"model": {"primary": "nowhere/x"}}, "unknown provider 'nowhere'"),
    ({"model": {"fallbacks": ["openai/gpt-5", "bogus/y"]}}, "unknown provider 'bogus'"),
    ({"compaction": {"reserve_tokens": -1}}, "compaction.reserve_tokens must be at least 0"),
    ({"compaction": {"max_history_share": 2}}, "compaction.max_history_share"),
    ({"pruning": {"keep_last": 1}}, "pruning.keep_last is not a field this accepts"),
    ({"pruning": "off"}, "pruning must be a JSON object"),
], ids=lambda v: str(v)[:40])
async def test_invalid_settings_are_400_and_change_nothing(
    shoal_server: ShoalServer, patch: dict[str, Any], error: str,
) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    route = f"/api/agents/{bot}/config"
    before = (await house.member.get(route)).json()
    r = await house.member.patch(route, patch)
    assert r.status_code == 400 and error in r.json()["error"], r.text
    assert (await house.member.get(route)).json() == before


async def test_a_house_model_map_limits_the_models_its_bots_may_use(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    r = await house.owner.patch(f"/api/houses/{house.id}/settings",
                                {"models": {"offline/shoal-offline": {"alias": "cheap"}}})
    assert r.status_code == 200, r.text
    route = f"/api/agents/{bot}/config"
    r = await house.member.patch(route, {"model": {"primary": "openai/gpt-5"}})
    assert r.status_code == 400
    assert r.json()["error"] == ("model 'openai/gpt-5' is not allowed in this house; "
                                 "allowed: offline/shoal-offline (cheap)")
    r = await house.member.patch(route, {"model": {"primary": "cheap"}})
    assert r.status_code == 200 and r.json()["config"]["model"]["primary"] == "cheap"


@pytest.mark.parametrize("form", ["openai/gpt-5-mini", "sonnet"])
async def test_a_model_may_be_a_plain_reference_and_is_stored_as_primary_and_fallbacks(
    shoal_server: ShoalServer, form: str,
) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    route = f"/api/agents/{bot}/config"
    r = await house.member.patch(route, {"model": {"primary": "offline", "fallbacks": []}})
    assert r.status_code == 200, r.text
    r = await house.member.patch(route, {"model": form})
    assert r.status_code == 200, r.text
    assert (await house.member.get(route)).json()["config"]["model"] == {
        "primary": form, "fallbacks": None}


@pytest.mark.parametrize(("patch", "sentence"), [
    ({"model": 7}, 'model must be a model reference such as "openai/gpt-5-mini"'),
    ({"model": ""}, "model must not be empty"),
    ({"model": {"primery": "sonnet"}}, "model has no key 'primery'"),
    ({"model": {"primary": 5}}, "model.primary must be text"),
    ({"model": {"fallbacks": "sonnet"}}, "model.fallbacks must be a list"),
    ({"max_hops": 0}, "max_hops must be at least 1"),
    ({"max_hops": "many"}, "max_hops must be a whole number"),
    ({"runtime": "lambda"}, "runtime must be 'builtin', 'sdk' or 'webhook'"),
    ({"tools": "everything"}, "tools must be a JSON object"),
    ({"tools": {"allow": [1]}}, "tools.allow[0] must be text"),
    ({"system_prompt": "x" * 20_001}, "system_prompt must be at most 20000 characters"),
], ids=lambda v: str(v)[:40])
async def test_config_errors_are_sentences_not_pydantic_wording(
    shoal_server: ShoalServer, patch: dict[str, Any], sentence: str,
) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    r = await house.member.patch(f"/api/agents/{bot}/config", patch)
    assert r.status_code == 400 and r.json()["error"].startswith(sentence), r.text
    assert "Input should" not in r.text and "instance of" not in r.text


async def test_prompt_permission_is_the_contracts_name_for_the_trigger_policy(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    route = f"/api/agents/{bot}/config"
    r = await house.member.patch(route, {"prompt_permission": "closed"})
    assert r.status_code == 200, r.text
    config = (await house.member.get(route)).json()["config"]
    assert config["trigger_policy"] == config["prompt_permission"] == "closed"


@pytest.mark.parametrize(("patch", "error"), [
    ({"llm_api_key": "sk-mine"}, "llm_api_key needs llm_provider"),
    ({"llm_provider": "nowhere", "model": "nowhere/x"}, "unknown provider 'nowhere'"),
    ({"llm_provider": "openai", "llm_api_key": "sk-mine"},
     "llm_provider 'openai' is used only for the agent's own models"),
    ({"llm_provider": "openai", "llm_api_key": "sk-mine", "model": "sonnet"},
     "none of them is from openai"),
    ({"llm_provider": "offline", "llm_api_key": "sk-mine", "model": "offline"},
     "takes no API key"),
    ({"ollama_endpoint": "https://ollama.example"}, "it has none: set model (or ollama_model)"),
    ({"ollama_endpoint": "http://127.0.0.1:11434", "ollama_model": "llama3.2"},
     "ollama_endpoint points to a private, loopback or other internal address"),
    ({"ollama_endpoint": "http://169.254.169.254", "ollama_model": "llama3.2"},
     "internal address"),
    ({"ollama_endpoint": "file:///etc/passwd", "ollama_model": "llama3.2"},
     "ollama_endpoint: only http:// and https://"),
], ids=lambda v: str(v)[:50])
async def test_an_own_key_or_endpoint_no_call_would_use_is_refused(
    shoal_server: ShoalServer, patch: dict[str, Any], error: str,
) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    r = await house.member.patch(f"/api/agents/{bot}/config", patch)
    assert r.status_code == 400 and error in r.json()["error"], r.text
    assert "sk-mine" not in r.text


async def test_an_own_key_and_endpoint_that_calls_will_use_are_kept_and_masked(
    shoal_server: ShoalServer,
) -> None:
    house = await make_house(shoal_server)
    bot = await house_bot(house)
    route = f"/api/agents/{bot}/config"
    r = await house.member.patch(route, {
        "llm_provider": "OpenAI", "llm_api_key": "sk-mine-0123456789", "model": "openai/gpt-5-mini",
        "fallbacks": ["ollama/llama3.2"], "ollama_endpoint": "https://ollama.example"})
    assert r.status_code == 200, r.text
    config = (await house.member.get(route)).json()["config"]
    assert config["llm_provider"] == "openai" and config["llm_api_key"] is True
    assert config["ollama_endpoint"] == "https://ollama.example"
    assert "sk-mine" not in r.text and "sk-mine" not in str(config)
    # The model cannot be changed out from under the key without saying what it is for.
    r = await house.member.patch(route, {"model": "sonnet"})
    assert r.status_code == 400 and "none of them is from openai" in r.json()["error"]
