"""Embeddings through the model layer: one call for a batch of texts, the same fallback chain,
keys and cooldowns as chat, and an offline embedder that needs no network and no weights.

The offline embedder hashes word stems and character trigrams into a fixed-size vector. It
knows no meanings, only shared word parts, so "the deploy moved to Thursday" lands near
"deployment rescheduled for thursday" and far from "pizza with extra cheese". It says so.
"""

from __future__ import annotations

import math
import re
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from shoal.llm.errors import AllModelsFailed, AttemptRecord, FailureKind, ProviderFailure
from shoal.llm.providers.base import Credential

if TYPE_CHECKING:
    from shoal.llm.refs import HouseModels, ResolvedModel
    from shoal.llm.router import ModelRouter

OFFLINE_EMBED_MODEL = "offline/shoal-embed"
OFFLINE_EMBED_NOTICE = ("offline embedder: hashed word stems and letter trigrams, not a real "
                        "embedding model; it matches shared word parts, not meanings")
OFFLINE_DIMENSIONS = 256
MAX_BATCH = 64  # texts per provider call
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_SUFFIXES = ("ments", "ment", "ations", "ation", "ings", "ing", "edly", "ed", "ies", "es", "ly",
             "s")
_STOP = frozenset("a an the to of in on at for and or but is are was were be been it this that "
                  "with as by from we i you he she they our your my me us when what where who "
                  "how why which do does did can could should would will".split())


@dataclass(frozen=True)
class Embeddings:
    """Vectors for a batch of texts, in order, and the model that made them (vectors of
    different models are never compared)."""

    model: str
    vectors: list[list[float]]


class EmbeddingAdapter(Protocol):
    """A provider adapter that can also embed."""

    async def embed(self, model: ResolvedModel, texts: Sequence[str], credential: Credential,
                    timeout: float) -> list[list[float]]:
        """One vector per text."""
        ...


def stem(word: str) -> str:
    """A crude stem: a few English suffixes off, so "deployment" and "deployed" meet."""
    for suffix in _SUFFIXES:
        if len(word) - len(suffix) >= 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def offline_embedding(text: str, dimensions: int = OFFLINE_DIMENSIONS) -> list[float]:
    """The offline embedder's unit vector for a text (all zeros for a text with no words)."""
    vector = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        if word in _STOP:
            continue
        root = stem(word)
        _add(vector, "w:" + root, 1.0)
        padded = f"<{root}>"
        for i in range(len(padded) - 2):
            _add(vector, padded[i:i + 3], 1.0)
    norm = math.sqrt(sum(v * v for v in vector))
    return [v / norm for v in vector] if norm else vector


def _add(vector: list[float], feature: str, weight: float) -> None:
    h = zlib.crc32(feature.encode())
    vector[h % len(vector)] += weight if h & 0x80000000 else -weight


class OfflineEmbedder:
    """The offline provider's embeddings."""

    async def embed(self, model: ResolvedModel, texts: Sequence[str], credential: Credential,
                    timeout: float) -> list[list[float]]:
        """One offline vector per text."""
        return [offline_embedding(t) for t in texts]


async def embed_texts(router: ModelRouter, texts: Sequence[str], models: Sequence[str], *,
                      house: HouseModels | None = None, house_id: str | None = None,
                      deadline_seconds: float = 30.0) -> Embeddings:
    """Embed texts with the first model of the chain that can, rotating keys and cooling down
    failing ones as chat does. Raises AllModelsFailed naming every attempt."""
    attempts: list[AttemptRecord] = []
    for model in router.resolve_chain(models, house):
        name = str(model.ref)
        adapter = router.adapter(model.provider.kind)
        if not hasattr(adapter, "embed"):
            attempts.append(AttemptRecord(name, "-", f"{model.provider.kind} models do not "
                                          "embed in Shoal", 0.0))
            continue
        profiles = router.book.order(await router.keys.profiles(model.provider, house_id), None)
        if not profiles:
            attempts.append(AttemptRecord(name, "-", "no API key for its provider", 0.0))
            continue
        for profile in profiles:
            if router.book.unavailable_until(profile.id) is not None:
                attempts.append(AttemptRecord(name, profile.id, "cooling down", 0.0))
                continue
            router.book.mark_used(profile.id)
            started = time.monotonic()
            try:
                vectors: list[list[float]] = []
                for at in range(0, len(texts), MAX_BATCH):
                    vectors.extend(await adapter.embed(
                        model, texts[at:at + MAX_BATCH], Credential(profile.id, profile.api_key),
                        deadline_seconds))
            except ProviderFailure as failure:
                attempts.append(AttemptRecord(name, profile.id, f"{failure.kind}: "
                                              f"{failure.message}", time.monotonic() - started))
                await router.book.mark_failure(profile, failure.kind, model=name,
                                               detail=failure.message,
                                               retry_after=failure.retry_after)
                if failure.kind in (FailureKind.AUTH, FailureKind.RATE_LIMIT,
                                    FailureKind.BILLING):
                    continue
                break
            if len(vectors) != len(texts):
                attempts.append(AttemptRecord(name, profile.id, "answered a different number "
                                              "of vectors than texts", 0.0))
                break
            await router.book.mark_success(profile.id)
            return Embeddings(name, vectors)
    raise AllModelsFailed(attempts)
