"""Crew roles: what a role is told and may do. Shoal knows the seed's roles; a house may define
more (house setting `crew_roles`) or change these."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shoal.store.tables import House

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

LEAD = "lead"


@dataclass(frozen=True)
class Role:
    """A crew role. `receives_updates`: the member gets CREW_UPDATE blocks; `sub_lead`: it may
    add members and spawn sub-agents into the crew, as the lead may."""

    name: str
    receives_updates: bool
    sub_lead: bool = False


# The lead and the sub-leads get CREW_UPDATE, and the secretary, who watches lock conflicts;
# developers and reviewers work from their tasks and direct messages.
BUILTIN_ROLES: dict[str, Role] = {role.name: role for role in (
    Role(LEAD, receives_updates=True, sub_lead=True),
    Role("architect", receives_updates=True, sub_lead=True),
    Role("secretary", receives_updates=True),
    Role("developer", receives_updates=False),
    Role("code-reviewer", receives_updates=False),
)}


def role_title(role: str) -> str:
    """A role as the feed and CREW_UPDATE name it: `code-reviewer` is `Code Reviewer`."""
    return " ".join(word.capitalize() for word in role.replace("_", "-").split("-") if word)


async def read_roles(session: AsyncSession, house_id: str) -> dict[str, Role]:
    """The crew roles of a house: the built-in ones and its own (`crew_roles`)."""
    house = await session.get(House, house_id)
    defined: Any = (house.settings or {}).get("crew_roles") if house else None
    return house_roles(defined if isinstance(defined, dict) else None)


def house_roles(defined: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Role]:
    """The built-in roles with a house's own (`{name: {receives_updates, sub_lead}}`) over
    them."""
    roles = dict(BUILTIN_ROLES)
    for name, flags in (defined or {}).items():
        roles[name] = Role(name, bool(flags.get("receives_updates", False)),
                           bool(flags.get("sub_lead", False)))
    return roles
