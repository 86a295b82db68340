"""Model references: `provider/model`, an alias, or a bare model for the default provider."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from shoal.llm.catalog import Catalog, ModelInfo, ProviderSpec
from shoal.llm.errors import UnknownModel
from shoal.net.outbound import OutboundPolicy


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A provider and a model name at that provider."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class HouseModel:
    """One entry of a house's `models` map: an optional alias and provider params."""

    alias: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """A reference resolved against the catalog and a house's map, ready to call."""

    ref: ModelRef
    provider: ProviderSpec
    info: ModelInfo
    params: Mapping[str, Any] = field(default_factory=dict)
    # Set when the address was chosen by an agent, not the operator: every connection to it
    # passes this outbound policy.
    guard: OutboundPolicy | None = None


def parse_model_ref(
    raw: str, catalog: Catalog, extra_aliases: Mapping[str, str] | None = None
) -> ModelRef:
    """Split at the first `/`; without one, try aliases (case-insensitive), else the
    default provider."""
    text = raw.strip()
    if not text:
        raise UnknownModel("a model reference is empty; use provider/model or an alias")
    if "/" in text:
        provider, _, model = text.partition("/")
        if not provider or not model:
            raise UnknownModel(f"model reference {raw!r} needs both a provider and a model")
        return ModelRef(provider.lower(), model)
    key = text.lower()
    target = (extra_aliases or {}).get(key) or catalog.aliases.get(key)
    if target is not None:
        return parse_model_ref(target, catalog)
    return ModelRef(catalog.default_provider, text)


class HouseModels:
    """A house's `models` map. When it is not empty it is also the house's allowlist. It may
    come as a mapping or, as house settings store it to keep its order, [ref, entry] pairs."""

    def __init__(self, raw: Mapping[str, Mapping[str, Any] | None] | Iterable[Sequence[Any]],
                 catalog: Catalog) -> None:
        self.entries: dict[str, HouseModel] = {}
        pairs: Iterable[Sequence[Any]] = raw.items() if isinstance(raw, Mapping) else raw
        for ref, entry in pairs:
            entry = entry or {}
            canonical = str(parse_model_ref(ref, catalog))
            self.entries[canonical] = HouseModel(
                entry.get("alias"), dict(entry.get("params") or {})
            )
        self.aliases = {
            e.alias.lower(): ref for ref, e in self.entries.items() if e.alias is not None
        }

    def allowed_names(self) -> list[str]:
        """Each allowed reference, with its alias if it has one."""
        return [f"{ref} ({e.alias})" if e.alias else ref for ref, e in self.entries.items()]


def resolve_model(raw: str, catalog: Catalog, house: HouseModels | None = None) -> ResolvedModel:
    """Resolve a reference for a house, refusing unknown providers and disallowed models."""
    house_aliases = house.aliases if house else None
    ref = parse_model_ref(raw, catalog, house_aliases)
    provider = catalog.provider(ref.provider)
    if provider is None:
        known = ", ".join(sorted(catalog.providers))
        raise UnknownModel(
            f"unknown provider {ref.provider!r} in {raw!r}; known providers: {known}"
        )
    params: Mapping[str, Any] = {}
    if house is not None and house.entries:
        entry = house.entries.get(str(ref))
        if entry is None:
            allowed = ", ".join(house.allowed_names())
            raise UnknownModel(
                f"model {str(ref)!r} is not allowed in this house; allowed: {allowed}"
            )
        params = entry.params
    return ResolvedModel(ref, provider, catalog.info(str(ref)), params)


def model_chain(
    primary: str | None,
    fallbacks: Sequence[str] | None,
    default_primary: str,
    default_fallbacks: Sequence[str],
) -> list[str]:
    """An agent's chain: its own fallbacks replace the defaults (an empty list means none);
    an agent without a primary uses the default primary."""
    chain = [primary or default_primary]
    chain.extend(default_fallbacks if fallbacks is None else fallbacks)
    return list(dict.fromkeys(chain))  # a model listed twice is tried once
