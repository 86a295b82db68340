"""The storage interface for uploaded files, and the local store under the data directory.

Keys are Shoal's own ids, never a name a client chose, and the local store refuses any key
that is not one, so nothing is read or written outside its directory. Disk work runs in worker
threads: an upload or a download never blocks the event loop."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO, Protocol

from shoal.errors import NotFound

CHUNK = 256 * 1024
KEY = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class FileStore(Protocol):
    """Where file bytes live, by key."""

    async def save(self, key: str, source: BinaryIO) -> int:
        """Copy a readable file in under `key`; answers how many bytes were written."""
        ...

    def read(self, key: str) -> AsyncIterator[bytes]:
        """The file's bytes in chunks; NotFound if there is no such file."""
        ...

    async def read_all(self, key: str) -> bytes:
        """The whole file (for small files: images handed to a model)."""
        ...

    async def delete(self, key: str) -> None:
        """Remove the file; removing a missing one is not an error."""
        ...

    async def keys_older_than(self, seconds: float) -> list[str]:
        """The keys of files last written more than `seconds` ago (for the sweep that
        deletes files whose record is gone)."""
        ...


class LocalFileStore:
    """Files under one directory (by default `<data_dir>/files`), two levels of fan-out."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def path(self, key: str) -> Path:
        """Where a key's file is; ValueError for a key that is not one of Shoal's ids."""
        if not KEY.match(key):
            raise ValueError(f"{key!r} is not a file key")
        path = (self.root / key[-2:] / key[-4:-2] / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"{key!r} is outside the file store")
        return path

    async def save(self, key: str, source: BinaryIO) -> int:
        path = self.path(key)
        return await asyncio.to_thread(_copy_in, source, path)

    async def read(self, key: str) -> AsyncIterator[bytes]:
        path = self.path(key)
        try:
            handle = await asyncio.to_thread(path.open, "rb")
        except FileNotFoundError:
            raise NotFound("file not found") from None
        try:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def read_all(self, key: str) -> bytes:
        try:
            return await asyncio.to_thread(self.path(key).read_bytes)
        except FileNotFoundError:
            raise NotFound("file not found") from None

    async def delete(self, key: str) -> None:
        path = self.path(key)
        await asyncio.to_thread(path.unlink, True)

    async def keys_older_than(self, seconds: float) -> list[str]:
        """Also removes half-written files (`.part`) as old: a copy that crashed midway."""
        return await asyncio.to_thread(_old_keys, self.root, time.time() - seconds)


def _copy_in(source: BinaryIO, path: Path) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".part")
    source.seek(0)
    with partial.open("wb") as target:
        shutil.copyfileobj(source, target, CHUNK)
        size = target.tell()
    os.replace(partial, path)  # readers never see half a file
    return size


def _old_keys(root: Path, before: float) -> list[str]:
    keys = []
    for path in root.glob("*/*/*"):
        try:
            if path.stat().st_mtime >= before:
                continue
        except FileNotFoundError:  # deleted meanwhile
            continue
        if path.suffix == ".part":
            path.unlink(missing_ok=True)
        elif KEY.match(path.name):
            keys.append(path.name)
    return keys
