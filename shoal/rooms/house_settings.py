"""A house's settings document: the keys it has, their defaults, who may change them, and the
one validator REST, the CLI and first-run setup all go through.

The document is stored in `House.settings` (JSON) with only the keys set explicitly; reading
fills in the defaults. `models` is stored as [ref, entry] pairs: PostgreSQL's JSONB reorders
an object's keys, and the order of the list matters (the first is the relevance gate's
fallback). Adding a key is one `SettingKey` in `KEYS`. `bindings` (room -> agent) is part of
the document too, but lives on the rooms themselves (see `shoal.rooms.bindings`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from copy import deepcopy
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shoal.agents.config import check_tool_policy
from shoal.dispatch.interactions import MAX_BUDGET, house_budget
from shoal.errors import Forbidden, InvalidInput
from shoal.llm import Catalog, HouseModels, UnknownModel, resolve_model
from shoal.llm.thinking import check_level
from shoal.rooms.access import RANK
from shoal.rooms.bindings import Binding, bind_room, house_bindings
from shoal.store.tables import House, Room

DECIDERS = ("initiator", "initiator_or_admins")
MAX_MODELS = 100
ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class SettingKey:
    """One key of the document: its default, how a value is checked (returning the value to
    store, or raising InvalidInput), the keys it is checked against, and who may change it."""

    name: str
    default: Any
    check: Callable[[Any, Mapping[str, Any], Catalog], Any]
    depends_on: tuple[str, ...] = ()
    min_role: str = "owner"


def _models(value: Any, _doc: Mapping[str, Any], catalog: Catalog) -> list[list[Any]]:
    allowed = ("models must be an object of model references, each with an optional alias "
               'and params, e.g. {"anthropic/claude-haiku-4-5": {"alias": "cheap"}}')
    if not isinstance(value, dict):
        raise InvalidInput(allowed)
    if len(value) > MAX_MODELS:
        raise InvalidInput(f"models may list at most {MAX_MODELS} models")
    stored: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    for raw, entry in value.items():
        try:
            ref = str(resolve_model(raw, catalog).ref)
        except UnknownModel as exc:
            raise InvalidInput(f"models: {exc}") from None
        if ref in stored:
            raise InvalidInput(f"models lists {ref} twice")
        if entry is None:
            entry = {}
        if not isinstance(entry, dict) or set(entry) - {"alias", "params"}:
            raise InvalidInput(f"models[{raw!r}] must be an object with only alias and params")
        clean: dict[str, Any] = {}
        alias = entry.get("alias")
        if alias is not None:
            if not isinstance(alias, str) or not ALIAS.match(alias):
                raise InvalidInput(f"models[{raw!r}].alias must be a short name of letters, "
                                   "digits, '.', '_' or '-' (no '/')")
            if alias.lower() in aliases:
                raise InvalidInput(f"models: the alias {alias!r} is given to both "
                                   f"{aliases[alias.lower()]} and {ref}; aliases must be unique")
            aliases[alias.lower()] = ref
            clean["alias"] = alias
        params = entry.get("params")
        if params is not None:
            if not isinstance(params, dict):
                raise InvalidInput(f"models[{raw!r}].params must be an object of provider "
                                   'parameters, e.g. {"temperature": 0.2}')
            clean["params"] = params
        stored[ref] = clean
    return [[ref, entry] for ref, entry in stored.items()]


def _relevance_model(value: Any, doc: Mapping[str, Any], catalog: Catalog) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("relevance_model must be a model reference or alias such as "
                           '"haiku", or null to let the server choose')
    try:
        return str(resolve_model(value, catalog, house_models(doc, catalog)).ref)
    except UnknownModel as exc:
        raise InvalidInput(f"relevance_model: {exc}") from None


def _deciders(value: Any, _doc: Mapping[str, Any], _catalog: Catalog) -> str:
    if value not in DECIDERS:
        raise InvalidInput("run_permission_deciders must be one of " + ", ".join(DECIDERS))
    return str(value)


def _timezone(value: Any, _doc: Mapping[str, Any], _catalog: Catalog) -> str:
    allowed = 'timezone must be an IANA time zone name such as "Europe/Paris" or "UTC"'
    if not isinstance(value, str) or not value:
        raise InvalidInput(allowed)
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{allowed}; {value!r} is not one") from None
    return value


def _budget(value: Any, _doc: Mapping[str, Any], _catalog: Catalog) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_BUDGET:
        raise InvalidInput(f"interaction_budget must be a whole number from 1 to {MAX_BUDGET}, "
                           "or null for the server's default")
    return value


def _thinking(value: Any, _doc: Mapping[str, Any], _catalog: Catalog) -> str | None:
    if value is None:
        return None
    try:
        return check_level(value, "thinking_default")
    except ValueError as exc:
        raise InvalidInput(f"{exc}, or null for the server's default") from None


def _tools(value: Any, _doc: Mapping[str, Any], _catalog: Catalog) -> dict[str, Any]:
    return check_tool_policy(value, "tools")


def _memory(value: Any, _doc: Mapping[str, Any], catalog: Catalog) -> dict[str, Any]:
    allowed = ('memory must be an object with embedding_model (a model reference), '
               'embedding_fallbacks (a list of them) and vector_weight (0 to 1), each optional')
    if not isinstance(value, dict) or set(value) - {"embedding_model", "embedding_fallbacks",
                                                    "vector_weight"}:
        raise InvalidInput(allowed)
    stored: dict[str, Any] = {}
    models = value.get("embedding_fallbacks", [])
    if not isinstance(models, list) or len(models) > 5:
        raise InvalidInput("memory.embedding_fallbacks must be a list of at most 5 models")
    for name, ref in [("embedding_model", value.get("embedding_model"))] + [
            ("embedding_fallbacks", m) for m in models]:
        if ref is None:
            continue
        if not isinstance(ref, str):
            raise InvalidInput(allowed)
        try:
            resolved = str(resolve_model(ref, catalog).ref)
        except UnknownModel as exc:
            raise InvalidInput(f"memory.{name}: {exc}") from None
        if name == "embedding_model":
            stored[name] = resolved
        else:
            stored.setdefault(name, []).append(resolved)
    weight = value.get("vector_weight")
    if weight is not None:
        if isinstance(weight, bool) or not isinstance(weight, int | float) or \
                not 0 <= weight <= 1:
            raise InvalidInput("memory.vector_weight must be a number from 0 to 1")
        stored["vector_weight"] = float(weight)
    return stored


ROLE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,39}$")
MAX_CREW_ROLES = 50


def _crew_roles(value: Any, _doc: Mapping[str, Any], _catalog: Catalog) -> dict[str, Any]:
    allowed = ('crew_roles must be an object from a role name (lowercase letters, digits and '
               '"-") to {receives_updates, sub_lead}, each true or false, e.g. '
               '{"tester": {"receives_updates": true}}')
    if not isinstance(value, dict) or len(value) > MAX_CREW_ROLES:
        raise InvalidInput(allowed)
    stored: dict[str, Any] = {}
    for name, flags in value.items():
        if not ROLE_NAME.match(name) or not isinstance(flags, dict) \
                or set(flags) - {"receives_updates", "sub_lead"} \
                or not all(isinstance(v, bool) for v in flags.values()):
            raise InvalidInput(f"{allowed}; {name!r} is not one")
        if name == "lead":
            raise InvalidInput("crew_roles cannot redefine lead: every crew has one lead")
        stored[name] = {"receives_updates": flags.get("receives_updates", False),
                        "sub_lead": flags.get("sub_lead", False)}
    return stored


def _crew_models(value: Any, doc: Mapping[str, Any], catalog: Catalog) -> dict[str, Any]:
    allowed = ('crew_models must be an object from a crew role to the list of model '
               'references its members may run on, e.g. {"developer": '
               '["anthropic/claude-opus-4-1"]}')
    if not isinstance(value, dict) or len(value) > MAX_CREW_ROLES:
        raise InvalidInput(allowed)
    stored = {}
    for role, refs in value.items():
        if not ROLE_NAME.match(role):
            raise InvalidInput(f"{allowed}; {role!r} is not a role name")
        stored[role] = allowed_models(refs, f"crew_models[{role!r}]", catalog,
                                      house_models(doc, catalog))
    return stored


def allowed_models(refs: Any, subject: str, catalog: Catalog, house: HouseModels
                   ) -> list[str]:
    """A role's model allowlist checked and stored as `provider/model` references (`*`: any
    model); InvalidInput names the subject and what it allows."""
    if not isinstance(refs, list) or not refs or len(refs) > MAX_MODELS \
            or not all(isinstance(r, str) and r.strip() for r in refs):
        raise InvalidInput(f"{subject} must be a non-empty list of model references (\"*\" "
                           "for any model), or null for the default")
    stored: list[str] = []
    for raw in refs:
        try:
            ref = "*" if raw.strip() == "*" else str(resolve_model(raw, catalog, house).ref)
        except UnknownModel as exc:
            raise InvalidInput(f"{subject}: {exc}") from None
        if ref not in stored:
            stored.append(ref)
    return stored


# In checking order: a key comes after the keys it depends on.
KEYS: dict[str, SettingKey] = {k.name: k for k in (
    SettingKey("models", {}, _models),
    SettingKey("relevance_model", None, _relevance_model, depends_on=("models",)),
    SettingKey("run_permission_deciders", "initiator", _deciders),
    SettingKey("timezone", "UTC", _timezone),
    SettingKey("interaction_budget", None, _budget),  # None: the server's default
    SettingKey("tools", {}, _tools),  # the house's layer of every agent's tool policy
    SettingKey("memory", {}, _memory),  # embedding model and vector weight; {}: the server's
    SettingKey("thinking_default", None, _thinking),  # None: the server's default
    SettingKey("crew_roles", {}, _crew_roles),  # a house's own crew roles
    SettingKey("crew_models", {}, _crew_models, depends_on=("models",)),  # role -> allowlist
)}


# Who may change each key of the document; house admins may bind rooms, as room admins may.
MIN_ROLES = {**{k.name: k.min_role for k in KEYS.values()}, "bindings": "admin"}


def house_models(stored: Mapping[str, Any], catalog: Catalog) -> HouseModels:
    """The house's `models` map, which is also its allowlist when not empty."""
    return HouseModels(stored.get("models") or {}, catalog)


def settings_view(stored: Mapping[str, Any] | None, default_budget: int) -> dict[str, Any]:
    """Every key of the document with its value, the default where none is set
    (`default_budget`: the server's interaction budget)."""
    stored = stored or {}
    view = {key.name: deepcopy(stored.get(key.name, key.default)) for key in KEYS.values()}
    models = view["models"]
    return {**view, "models": dict(models) if isinstance(models, list) else models,
            "interaction_budget": house_budget(stored, default_budget)}


def check_may_change(role: str | None, changes: Mapping[str, Any]) -> None:
    """Refuse a change to a key the caller's house role may not change."""
    for name in changes:
        needed = MIN_ROLES.get(name)
        if needed is not None and RANK.get(role or "", -1) < RANK[needed]:
            raise Forbidden(f"your role ({role}) may not change {name}; it needs "
                            f"{needed} or above")


def updated_settings(stored: Mapping[str, Any] | None, changes: Mapping[str, Any],
                     catalog: Catalog) -> dict[str, Any]:
    """The stored settings with `changes` merged in (null resets a key to its default), each
    changed key checked, and the keys depending on it; raises InvalidInput naming the key
    and what it allows. Only keys set explicitly are stored."""
    unknown = [name for name in changes if name not in MIN_ROLES]
    if unknown:
        raise InvalidInput(f"unknown setting {unknown[0]!r}; known settings: "
                           + ", ".join(MIN_ROLES))
    doc = dict(stored or {})
    for name, value in changes.items():
        if value is None:
            doc.pop(name, None)
        else:
            doc[name] = value
    for key in KEYS.values():
        if key.name in doc and key.name in changes:
            doc[key.name] = key.check(doc[key.name], doc, catalog)
        elif key.name in doc and any(d in changes for d in key.depends_on):
            try:
                doc[key.name] = key.check(doc[key.name], doc, catalog)
            except InvalidInput as exc:
                raise InvalidInput(f"{exc.message}; change {key.name} in the same request, "
                                   "or set it to null") from None
    return doc


async def settings_document(session: AsyncSession, house: House, default_budget: int
                            ) -> dict[str, Any]:
    """The whole document: `settings_view` and the house's bindings (room id -> agent)."""
    return {**settings_view(house.settings, default_budget),
            "bindings": await house_bindings(session, house.id)}


async def change_settings(session: AsyncSession, house: House, changes: Mapping[str, Any],
                          catalog: Catalog, by_user_id: str | None) -> list[tuple[Room, Binding]]:
    """Apply a change to the document: stored keys as `updated_settings` does, `bindings`
    ({room id or slug: agent, or null to unbind}; null for all of it unbinds every room) on the
    rooms. Returns the rooms whose binding was set, for the caller to announce after commit."""
    rest = {k: v for k, v in changes.items() if k != "bindings"}
    house.settings = updated_settings(house.settings, rest, catalog)
    if "bindings" not in changes:
        return []
    wanted = changes["bindings"]
    if wanted is None:
        wanted = {room_id: None for room_id in await house_bindings(session, house.id)}
    if not isinstance(wanted, dict) or not all(
            isinstance(v, str) or v is None for v in wanted.values()):
        raise InvalidInput("bindings must be an object from a room's id or slug to an agent's "
                           "@handle, username or id (null unbinds the room)")
    changed = []
    for ref, agent in wanted.items():
        room = await session.scalar(select(Room).where(
            Room.house_id == house.id, or_(Room.id == ref, Room.slug == ref)))
        if room is None:
            raise InvalidInput(f"bindings: this house has no room {ref!r}; name a room by its "
                               "id or slug")
        changed.append((room, await bind_room(session, room, agent, by_user_id)))
    return changed
