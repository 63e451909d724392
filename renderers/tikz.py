"""TikZ pictures → SVG, offline, through node-tikzjax (TeX in WebAssembly) in a node worker.

The worker starts on the first picture (about a second) and then takes ~0.1 s a picture.
Its output is untrusted like the LaTeX it came from, so it passes `sanitize_svg` first.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from renderers.errors import RendererUnavailable
from renderers.svg_sanitize import sanitize_svg

ASSETS = Path(__file__).resolve().parent / "assets" / "tikzjax"
_COMPAT = re.compile(r"compat\s*=\s*[0-9.]+")
PACKAGE = ASSETS / "node_modules" / "node-tikzjax"
WORKER = Path(__file__).resolve().parent / "tikz_worker.mjs"


@dataclass(frozen=True)
class TikzFailure:
    message: str
    line: int | None  # within the picture's own source, 1 = \begin{tikzpicture}


class _Worker:
    """One node process running the TeX engine; one picture at a time."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.process: asyncio.subprocess.Process | None = None
        self.next_id = 0

    async def start(self) -> asyncio.subprocess.Process:
        if not TikzRenderer.available():
            raise RendererUnavailable(
                "TikZ needs node and node-tikzjax in renderers/assets/tikzjax; run `make setup`"
            )
        return await asyncio.create_subprocess_exec(
            "node",
            str(WORKER),
            str(PACKAGE / "dist" / "index.js"),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
            limit=64 * 1024 * 1024,
        )

    async def draw(
        self, source: str, libraries: str, packages: dict[str, str]
    ) -> dict[str, object]:
        if self.process is None or self.process.returncode is not None:
            self.process = await self.start()
        process = self.process
        assert process.stdin is not None and process.stdout is not None
        self.next_id += 1
        request = {
            "id": self.next_id,
            "source": source,
            "libraries": libraries,
            "packages": packages,
        }
        process.stdin.write((json.dumps(request) + "\n").encode())
        try:
            await process.stdin.drain()
            line = await asyncio.wait_for(process.stdout.readline(), self.timeout_s)
        except (TimeoutError, ConnectionError):
            await self.stop()
            return {"error": f"picture took longer than {self.timeout_s:.0f} s"}
        if not line:
            await self.stop()
            return {"error": "the TikZ engine stopped"}
        reply: dict[str, object] = json.loads(line)
        return reply

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.kill()
            await self.process.wait()
        self.process = None


class TikzRenderer:
    """A pool of TeX workers (started on first use) and a cache of drawn pictures."""

    CACHE_SIZE = 512

    def __init__(self, workers: int = 1, timeout_s: float = 30.0) -> None:
        self._all = [_Worker(timeout_s) for _ in range(max(1, workers))]
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        for worker in self._all:
            self._idle.put_nowait(worker)
        # LLM tables repeat small pictures (trend arrows, icons): draw each source once.
        self._cache: OrderedDict[tuple[str, str, str], str | TikzFailure] = OrderedDict()

    async def warm_up(self) -> None:
        """Starts every engine and loads TeX into it (about a second, once per process)."""
        if not self.available():
            return
        warm = "\\begin{document}\n\\begin{tikzpicture}\\draw (0,0) -- (1pt,0);"
        warm += "\\end{tikzpicture}\n\\end{document}"
        await asyncio.gather(*(worker.draw(warm, "", {}) for worker in self._all))

    @staticmethod
    def available() -> bool:
        return (PACKAGE / "dist" / "index.js").is_file() and shutil.which("node") is not None

    async def render(
        self,
        picture: str,
        libraries: str = "",
        packages: dict[str, str] | None = None,
        preamble: str = "",
    ) -> str | TikzFailure:
        """SVG markup for a `tikzpicture` environment, or why it failed. `preamble` carries
        the document's colours and styles (`\\definecolor`, `\\tikzset`, ...) into the picture."""
        key = (picture, f"{libraries}\n{preamble}", json.dumps(packages or {}, sort_keys=True))
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        # The engine wants a document; the picture's line n is the document's line
        # n + 1 + the preamble's lines.
        # The engine's pgfplots predates newer compat levels; `newest` is what it has.
        preamble = _COMPAT.sub("compat=newest", preamble)
        packages = {
            name: _COMPAT.sub("compat=newest", options)
            for name, options in (packages or {}).items()
        }
        source = f"{preamble}\n\\begin{{document}}\n{picture}\n\\end{{document}}"
        offset = preamble.count("\n") + 2
        worker = await self._idle.get()
        try:
            reply = await worker.draw(source, libraries, packages or {})
        finally:
            self._idle.put_nowait(worker)
        result: str | TikzFailure
        if "svg" in reply:
            result = sanitize_svg(str(reply["svg"]))
        else:
            at = reply.get("line")
            result = TikzFailure(
                str(reply.get("error", "TikZ failed")),
                at - offset if isinstance(at, int) and at > offset else None,
            )
        self._cache[key] = result
        if len(self._cache) > self.CACHE_SIZE:
            self._cache.popitem(last=False)
        return result

    async def close(self) -> None:
        for worker in self._all:
            await worker.stop()
