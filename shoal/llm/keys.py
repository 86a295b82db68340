"""Credentials: keys from the environment and keys stored in Shoal, encrypted at rest."""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from shoal.crypto import SecretBox, mask
from shoal.errors import InvalidInput, NotFound
from shoal.llm.profiles import AuthProfile, FailureRecord, ProfileState
from shoal.llm.tables import AuthProfileState, ModelFailure, ProviderKey

if TYPE_CHECKING:
    from shoal.llm.catalog import ProviderSpec
    from shoal.store.db import Database


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A stored key as it may be shown: never the key, only its masked hint."""

    id: str
    provider: str
    house_id: str | None
    label: str
    hint: str
    created_at: datetime


class KeyStore:
    """Provider keys kept in the database, sealed with a key derived from the server secret."""

    def __init__(self, db: Database, server_secret: str) -> None:
        self.db = db
        self._box = SecretBox(server_secret, purpose="shoal-provider-keys-v1")

    async def add(
        self, provider: str, api_key: str, *, house_id: str | None = None, label: str = ""
    ) -> StoredKey:
        """Store a key; the answer shows only its masked hint."""
        api_key = api_key.strip()
        if not api_key or any(c.isspace() for c in api_key):
            raise InvalidInput("an API key must be one word with no spaces")
        row = ProviderKey(
            provider=provider.lower(),
            house_id=house_id,
            label=label,
            secret=self._box.encrypt(api_key),
            hint=mask(api_key),
        )
        async with self.db.write() as session:
            session.add(row)
        return _public(row)

    async def list(
        self, house_id: str | None = None, *, all_houses: bool = False
    ) -> list[StoredKey]:
        """Server-wide keys, or one house's keys, or every key; masked."""
        query = select(ProviderKey).order_by(ProviderKey.provider, ProviderKey.created_at)
        if not all_houses:
            query = query.where(
                ProviderKey.house_id.is_(None)
                if house_id is None
                else ProviderKey.house_id == house_id
            )
        async with self.db.read() as session:
            return [_public(r) for r in (await session.scalars(query)).all()]

    async def remove(self, key_id: str) -> None:
        """Delete a stored key by id."""
        async with self.db.write() as session:
            result = await session.execute(delete(ProviderKey).where(ProviderKey.id == key_id))
        if result.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound(f"no stored key with id {key_id}")

    async def profiles(self) -> builtins.list[AuthProfile]:  # `list` here is the method
        """Every stored key as an auth profile, decrypted for use, never for display."""
        async with self.db.read() as session:
            rows = (
                await session.scalars(select(ProviderKey).order_by(ProviderKey.created_at))
            ).all()
        return [
            AuthProfile(
                id=f"key:{r.id}",
                provider=r.provider,
                api_key=self._box.decrypt(r.secret),
                source="server" if r.house_id is None else "house",
                label=r.label,
                house_id=r.house_id,
            )
            for r in rows
        ]


def _public(row: ProviderKey) -> StoredKey:
    return StoredKey(row.id, row.provider, row.house_id, row.label, row.hint, row.created_at)


class KeyRing:
    """The auth profiles for a provider: a house's own keys if it has any, else server-wide
    stored keys and environment keys. Stored keys are cached for `cache_seconds`."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        store: KeyStore | None = None,
        cache_seconds: float = 30.0,
    ) -> None:
        self.env = os.environ if env is None else env
        self.store = store
        self.cache_seconds = cache_seconds
        self._stored: list[AuthProfile] = []
        self._loaded_at: float | None = None

    def invalidate(self) -> None:
        """Forget cached stored keys, so the next call reads them again."""
        self._loaded_at = None

    async def profiles(
        self, provider: ProviderSpec, house_id: str | None = None
    ) -> list[AuthProfile]:
        """The profiles to try for a provider, in their configured order."""
        if self.store is not None:
            now = time.monotonic()
            if self._loaded_at is None or now - self._loaded_at > self.cache_seconds:
                self._stored = await self.store.profiles()
                self._loaded_at = now
        mine = [p for p in self._stored if p.provider == provider.name]
        house = [p for p in mine if p.source == "house" and p.house_id == house_id]
        if house_id is not None and house:
            return house  # a house that brings its own keys pays for its own calls
        found = [p for p in mine if p.source == "server"]
        seen = {p.api_key for p in found}
        for var in provider.key_env:
            value = self.env.get(var, "").strip()
            if value and value not in seen:
                seen.add(value)
                found.append(AuthProfile(f"env:{var}", provider.name, value, "env"))
        if not found and not provider.needs_key:
            found.append(AuthProfile(f"{provider.name}:keyless", provider.name, None, "none"))
        return found


class DbFailureSink:
    """Persists failures and profile state so every Shoal process sees the same cooldowns."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def record(self, failure: FailureRecord, state: ProfileState) -> None:
        """Store one failure and the profile's state after it."""
        values = {
            "profile_id": failure.profile_id,
            "provider": failure.provider,
            "error_count": state.error_count,
            "billing_count": state.billing_count,
            "cooldown_until": _dt(state.cooldown_until),
            "disabled_until": _dt(state.disabled_until),
            "last_failure_at": _dt(state.last_failure_at),
        }
        insert = sqlite_insert if self.db.is_sqlite else pg_insert
        upsert = insert(AuthProfileState).values(**values)
        upsert = upsert.on_conflict_do_update(
            index_elements=["profile_id"],
            set_={k: v for k, v in values.items() if k != "profile_id"},
        )
        async with self.db.write() as session:
            await session.execute(upsert)
            session.add(
                ModelFailure(
                    profile_id=failure.profile_id,
                    provider=failure.provider,
                    model=failure.model,
                    reason=str(failure.reason),
                    detail=failure.detail[:2000],
                    created_at=_dt(failure.at),
                )
            )

    async def clear(self, profile_id: str) -> None:
        """Forget a profile's failure counts after a success."""
        async with self.db.write() as session:
            await session.execute(
                delete(AuthProfileState).where(AuthProfileState.profile_id == profile_id)
            )

    async def load(self) -> dict[str, ProfileState]:
        """Every stored profile state, to start a ProfileBook from."""
        async with self.db.read() as session:
            rows = (await session.scalars(select(AuthProfileState))).all()
        return {
            r.profile_id: ProfileState(
                error_count=r.error_count,
                billing_count=r.billing_count,
                cooldown_until=_ts(r.cooldown_until),
                disabled_until=_ts(r.disabled_until),
                last_failure_at=_ts(r.last_failure_at),
            )
            for r in rows
        }

    async def recent(self, limit: int = 50) -> list[ModelFailure]:
        """The newest recorded failures, newest first."""
        query = select(ModelFailure).order_by(ModelFailure.created_at.desc()).limit(limit)
        async with self.db.read() as session:
            return list((await session.scalars(query)).all())


def _dt(ts: float | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts is not None else None


def _ts(dt: datetime | None) -> float | None:
    return dt.timestamp() if dt is not None else None
