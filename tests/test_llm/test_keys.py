"""Stored keys: encrypted at rest, masked when listed, house keys, shared cooldown state."""

from __future__ import annotations

from typing import Any

import pytest

from shoal.errors import NotFound
from shoal.llm import (
    AuthProfile,
    DbFailureSink,
    FailureKind,
    KeyRing,
    KeyStore,
    ManualClock,
    ProfileBook,
    ProviderSpec,
)
from shoal.store import Database
from shoal.store.tables import House

SECRET_KEY = "sk-live-THIS-IS-THE-PLAINTEXT-KEY-9876"
OPENAI = ProviderSpec("openai", "openai", None, ("OPENAI_API_KEY",))


async def test_stored_key_is_encrypted_in_the_database(database: Database, tmp_path: Any) -> None:
    store = KeyStore(database, "server-secret")
    shown = await store.add("openai", SECRET_KEY, label="team")
    assert SECRET_KEY not in repr(shown) and shown.hint == "…9876"
    [listed] = await store.list()
    assert (listed.id, listed.hint, listed.label) == (shown.id, "…9876", "team")
    assert SECRET_KEY not in repr(listed)
    [profile] = await store.profiles()
    assert profile.api_key == SECRET_KEY and profile.id == f"key:{shown.id}"
    if database.is_sqlite:
        await database.dispose()  # flush the WAL so every byte is in files we can read
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("llm.db"))
        assert b"team" in raw  # the row is there...
        assert SECRET_KEY.encode() not in raw  # ...but the key is not readable
        assert b"PLAINTEXT-KEY" not in raw
    # Another server secret cannot read it.
    with pytest.raises(ValueError):
        await KeyStore(database, "another-secret").profiles()


async def test_remove_and_missing_key(database: Database) -> None:
    store = KeyStore(database, "s")
    shown = await store.add("anthropic", "sk-ant-123456789")
    await store.remove(shown.id)
    assert await store.list() == []
    with pytest.raises(NotFound):
        await store.remove(shown.id)


async def test_house_keys_replace_server_and_env_keys_for_that_house(database: Database) -> None:
    async with database.write() as session:
        session.add(House(id="h1", name="One", slug="one"))
    store = KeyStore(database, "s")
    await store.add("openai", "sk-server-1111111")
    await store.add("openai", "sk-house-22222222", house_id="h1")
    ring = KeyRing(env={"OPENAI_API_KEY": "sk-env-33333333"}, store=store)
    house = await ring.profiles(OPENAI, "h1")
    assert [p.api_key for p in house] == ["sk-house-22222222"]
    other = await ring.profiles(OPENAI, "h2")
    assert [p.api_key for p in other] == ["sk-server-1111111", "sk-env-33333333"]
    assert [k.house_id for k in await store.list(all_houses=True)] == [None, "h1"]
    assert [k.hint for k in await store.list("h1")] == ["…2222"]


async def test_cooldowns_and_failures_are_shared_through_the_database(database: Database) -> None:
    clock = ManualClock()
    sink = DbFailureSink(database)
    profile = AuthProfile("key:abc", "openai", "sk-x")
    first = ProfileBook(clock, sink=sink)
    await first.mark_failure(
        profile, FailureKind.RATE_LIMIT, model="openai/gpt-5", detail="429", retry_after=120
    )
    # A second process starting now sees the cooldown.
    second = ProfileBook(clock, sink=sink, states=await sink.load())
    assert second.unavailable_until("key:abc") == clock.now() + 120
    [failure] = await sink.recent()
    assert (failure.profile_id, failure.reason, failure.model) == (
        "key:abc",
        "rate_limit",
        "openai/gpt-5",
    )
    await second.mark_success("key:abc")
    third = ProfileBook(clock, sink=sink, states=await sink.load())
    assert third.unavailable_until("key:abc") is None


async def test_keys_never_reach_logs(database: Database, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    store = KeyStore(database, "s")
    await store.add("openai", SECRET_KEY)
    await store.profiles()
    assert SECRET_KEY not in caplog.text
