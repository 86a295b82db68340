"""Model references, aliases, the catalog, house allowlists and agent chains."""

from __future__ import annotations

import pytest

from shoal.errors import InvalidInput
from shoal.llm import (
    Catalog,
    HouseModels,
    LLMConfig,
    ModelConfig,
    ModelRef,
    UnknownModel,
    model_chain,
    parse_model_ref,
    resolve_model,
)

CATALOG = Catalog(env={})


def test_provider_and_model_split_at_the_first_slash() -> None:
    assert parse_model_ref("openrouter/anthropic/claude-x", CATALOG) == ModelRef(
        "openrouter", "anthropic/claude-x"
    )
    assert parse_model_ref("anthropic/claude-sonnet-4-5", CATALOG) == ModelRef(
        "anthropic", "claude-sonnet-4-5"
    )


@pytest.mark.parametrize(
    ("alias", "ref"),
    [
        ("opus", "anthropic/claude-opus-4-5"),
        ("Sonnet", "anthropic/claude-sonnet-4-5"),
        ("HAIKU", "anthropic/claude-haiku-4-5"),
        ("gpt", "openai/gpt-5"),
        ("gpt-mini", "openai/gpt-5-mini"),
        ("gemini", "google/gemini-2.5-pro"),
        ("gemini-flash", "google/gemini-2.5-flash"),
        ("offline", "offline/shoal-offline"),
    ],
)
def test_builtin_aliases_are_case_insensitive(alias: str, ref: str) -> None:
    assert str(parse_model_ref(alias, CATALOG)) == ref


def test_bare_model_goes_to_the_default_provider_and_aliases_need_no_slash() -> None:
    assert parse_model_ref("claude-3-haiku", CATALOG) == ModelRef("anthropic", "claude-3-haiku")
    catalog = Catalog(LLMConfig(default_provider="openai"), env={})
    assert parse_model_ref("gpt-4o", catalog) == ModelRef("openai", "gpt-4o")
    # "x/sonnet" has a slash, so "sonnet" there is a model name, not an alias
    assert parse_model_ref("openai/sonnet", CATALOG) == ModelRef("openai", "sonnet")


def test_configuration_extends_the_catalog() -> None:
    config = LLMConfig.parse(
        {
            "providers": {
                "vllm": {
                    "kind": "openai",
                    "base_url": "http://gpu:8000/v1",
                    "api_key_env": ["VLLM_KEY"],
                }
            },
            "models": {"vllm/qwen3": {"alias": "qwen", "context_window": 32768}},
        }
    )
    catalog = Catalog(config, env={})
    resolved = resolve_model("QWEN", catalog)
    assert str(resolved.ref) == "vllm/qwen3"
    assert resolved.provider.base_url == "http://gpu:8000/v1"
    assert resolved.info.context_window == 32768
    with pytest.raises(InvalidInput, match="llm.models"):
        LLMConfig.parse({"models": {"x/y": {"context_window": "big"}}})


def test_base_urls_from_environment_and_ollama_default() -> None:
    env = {"OPENAI_BASE_URL": "http://proxy:9000/v1", "ANTHROPIC_BASE_URL": "http://proxy:9001"}
    catalog = Catalog(env=env)
    assert resolve_model("gpt", catalog).provider.base_url == "http://proxy:9000/v1"
    assert resolve_model("sonnet", catalog).provider.base_url == "http://proxy:9001"
    ollama = resolve_model("ollama/llama3.2", catalog)
    assert (ollama.provider.kind, ollama.provider.base_url) == (
        "openai",
        "http://127.0.0.1:11434/v1",
    )
    assert not ollama.provider.needs_key


def test_unknown_provider_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(UnknownModel, match="unknown provider 'nope'.*anthropic.*openai") as caught:
        resolve_model("nope/model", CATALOG)
    assert caught.value.status == 400
    with pytest.raises(UnknownModel):
        resolve_model("  ", CATALOG)


def test_house_models_map_is_an_allowlist_with_its_own_aliases_and_params() -> None:
    house = HouseModels(
        {"sonnet": {"alias": "writer", "params": {"top_k": 5}}, "openai/gpt-5-mini": None}, CATALOG
    )
    writer = resolve_model("Writer", CATALOG, house)
    assert str(writer.ref) == "anthropic/claude-sonnet-4-5" and writer.params == {"top_k": 5}
    assert str(resolve_model("gpt-mini", CATALOG, house).ref) == "openai/gpt-5-mini"
    with pytest.raises(UnknownModel) as caught:
        resolve_model("opus", CATALOG, house)
    message = str(caught.value)
    assert "not allowed" in message
    assert "anthropic/claude-sonnet-4-5 (writer)" in message and "openai/gpt-5-mini" in message


def test_empty_house_map_allows_everything() -> None:
    assert (
        str(resolve_model("opus", CATALOG, HouseModels({}, CATALOG)).ref)
        == "anthropic/claude-opus-4-5"
    )


def test_agent_fallbacks_replace_the_defaults_and_empty_means_none() -> None:
    assert model_chain("opus", None, "offline", ["gpt", "gemini"]) == ["opus", "gpt", "gemini"]
    assert model_chain("opus", ["haiku"], "offline", ["gpt"]) == ["opus", "haiku"]
    assert model_chain("opus", [], "offline", ["gpt"]) == ["opus"]
    assert model_chain(None, None, "offline", ["offline", "gpt"]) == ["offline", "gpt"]


def test_unknown_models_get_the_default_context_window() -> None:
    catalog = Catalog(
        LLMConfig(models={"openai/small": ModelConfig(context_window=20_000)}), env={}
    )
    assert catalog.info("openai/small").context_window == 20_000
    assert catalog.info("ollama/whatever").context_window == 128_000


def test_a_bad_llm_table_is_explained_in_sentences() -> None:
    with pytest.raises(InvalidInput) as refused:
        LLMConfig.parse({"deadline_seconds": 0, "providers": {"x": {"kind": "nope"}}})
    assert refused.value.message == (
        "invalid configuration: llm.deadline_seconds must be more than 0; "
        "llm.providers.x.kind must be 'openai', 'anthropic', 'google' or 'offline'")
