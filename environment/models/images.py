"""The run's rendered tables as models receive them: each PNG read, hashed and encoded once.

A table's image goes to its questioner and to every juror of every pair on it — a dozen
requests — and the response cache hashes it for each of them too. Reading, hashing and
base64-encoding it every time is I/O and CPU on the hottest path of a vision run.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path


class ImageOutsideRun(ValueError):
    """A path that leaves the run folder: never read."""


@dataclass(frozen=True)
class _Loaded:
    stamp: tuple[int, int]  # (mtime_ns, size): a re-render invalidates the entry
    digest: str
    data_url: str


class RunImages:
    def __init__(self, root: Path, keep: int = 64) -> None:
        self.root = root.resolve()
        self.keep = keep  # tables in flight at once are far fewer
        self._loaded: OrderedDict[str, _Loaded] = OrderedDict()

    async def digest(self, relative: str) -> str:
        return (await self._load(relative)).digest

    async def data_url(self, relative: str) -> str:
        return (await self._load(relative)).data_url

    async def _load(self, relative: str) -> _Loaded:
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root):
            raise ImageOutsideRun(f"image path outside the run folder: {relative}")
        stat = await asyncio.to_thread(path.stat)
        stamp = (stat.st_mtime_ns, stat.st_size)
        loaded = self._loaded.get(relative)
        if loaded is None or loaded.stamp != stamp:
            png = await asyncio.to_thread(path.read_bytes)
            loaded = _Loaded(
                stamp,
                hashlib.sha256(png).hexdigest(),
                "data:image/png;base64," + base64.b64encode(png).decode("ascii"),
            )
            self._loaded[relative] = loaded
        self._loaded.move_to_end(relative)
        while len(self._loaded) > self.keep:
            self._loaded.popitem(last=False)
        return loaded
