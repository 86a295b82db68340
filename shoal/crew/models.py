"""Which models a crew's members may run on: an allowlist per role, the crew's own over the
house's defaults (house setting `crew_models`); a role named in neither runs on any model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shoal.agents.config import load_config
from shoal.errors import InvalidInput
from shoal.llm import Catalog, UnknownModel, resolve_model
from shoal.rooms.house_settings import allowed_models, house_models
from shoal.store.tables import User

ANY = "*"


class ModelDenied(InvalidInput):
    """An agent refused a role because of the model it runs on; the crew's feed records it."""

    def __init__(self, message: str, crew_id: str, agent_id: str, data: dict[str, Any]) -> None:
        super().__init__(message)
        self.crew_id = crew_id
        self.agent_id = agent_id
        self.data = data


def allowlist(own: Mapping[str, Any] | None, house_settings: Mapping[str, Any] | None,
              role: str) -> list[str] | None:
    """The models a role may run on, or None for any."""
    found = (own or {}).get(role) or ((house_settings or {}).get("crew_models") or {}).get(role)
    if not found or ANY in found:
        return None
    return list(found)


def effective(own: Mapping[str, Any] | None, house_settings: Mapping[str, Any] | None,
              roles: list[str]) -> dict[str, list[str] | None]:
    """Every role's allowlist (None: any model)."""
    return {role: allowlist(own, house_settings, role) for role in roles}


def canonical(raw: str, catalog: Catalog, house_settings: Mapping[str, Any] | None) -> str:
    """A model reference as allowlists store it (`provider/model`, aliases resolved)."""
    try:
        return str(resolve_model(raw, catalog, house_models(house_settings or {}, catalog)).ref)
    except UnknownModel:
        return raw


def agent_model(agent: User, default: str) -> str:
    """The model an agent runs on when nothing else is asked: its own primary, else the
    server's default."""
    return load_config(agent.config).model.primary or default


def refusal(own: Mapping[str, Any] | None, house_settings: Mapping[str, Any] | None,
            role: str, model: str, catalog: Catalog, who: str) -> str | None:
    """Why `who` may not take the role on `model`, naming the allowed models; None if it may."""
    allowed = allowlist(own, house_settings, role)
    if allowed is None:
        return None
    ref = canonical(model, catalog, house_settings)
    if ref in allowed:
        return None
    return (f"{who} would run on {ref}, which the {role} role of this crew does not allow; "
            f"allowed models: {', '.join(allowed)}")


def checked_config(raw: Any, roles: list[str], catalog: Catalog,
                   house_settings: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """A crew's own allowlists (`{role: [model, ...]}`, null for the house's default), checked;
    InvalidInput names the role or model at fault."""
    if not isinstance(raw, dict):
        raise InvalidInput('models must be an object from a role to a list of model '
                           'references, e.g. {"developer": ["anthropic/claude-opus-4-1"]}')
    stored: dict[str, list[str]] = {}
    for role, refs in raw.items():
        if role not in roles:
            raise InvalidInput(f"there is no crew role {role!r}; roles: {', '.join(roles)}")
        if refs is None:
            continue
        stored[role] = allowed_models(refs, f"models[{role!r}]", catalog,
                                      house_models(house_settings or {}, catalog))
    return stored
