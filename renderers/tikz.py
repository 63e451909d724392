"""TikZ pictures → SVG, offline, through node-tikzjax (TeX in WebAssembly) in a node worker.

The worker starts on the first picture (about a second) and then takes ~0.1 s a picture.
Its output is untrusted like the LaTeX it came from, so it passes `sanitize_svg` first.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from renderers.errors import RendererUnavailable
from renderers.svg_sanitize import sanitize_svg

ASSETS = Path(__file__).resolve().parent / "assets" / "tikzjax"
PACKAGE = ASSETS / "node_modules" / "node-tikzjax"
WORKER = Path(__file__).resolve().parent / "tikz_worker.mjs"


@dataclass(frozen=True)
class TikzFailure:
    message: str
    line: int | None  # within the picture's own source, 1 = \begin{tikzpicture}


class TikzRenderer:
    def __init__(self, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self._process: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()
        self._next_id = 0

    @staticmethod
    def available() -> bool:
        return (PACKAGE / "dist" / "index.js").is_file() and shutil.which("node") is not None

    async def _start(self) -> asyncio.subprocess.Process:
        if not self.available():
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

    async def render(
        self, picture: str, libraries: str = "", packages: dict[str, str] | None = None
    ) -> str | TikzFailure:
        """SVG markup for a `tikzpicture` environment, or why it failed."""
        # The engine wants a document; the picture's line n is the document's line n + 1.
        source = f"\\begin{{document}}\n{picture}\n\\end{{document}}"
        async with self._lock:
            if self._process is None or self._process.returncode is not None:
                self._process = await self._start()
            process = self._process
            assert process.stdin is not None and process.stdout is not None
            self._next_id += 1
            request = {
                "id": self._next_id,
                "source": source,
                "libraries": libraries,
                "packages": packages or {},
            }
            process.stdin.write((json.dumps(request) + "\n").encode())
            try:
                await process.stdin.drain()
                line = await asyncio.wait_for(process.stdout.readline(), self.timeout_s)
            except (TimeoutError, ConnectionError):
                await self._stop()
                return TikzFailure(f"picture took longer than {self.timeout_s:.0f} s", None)
            if not line:
                await self._stop()
                return TikzFailure("the TikZ engine stopped", None)
        reply = json.loads(line)
        if "svg" in reply:
            return sanitize_svg(reply["svg"])
        at = reply.get("line")
        return TikzFailure(
            str(reply.get("error", "TikZ failed")),
            at - 1 if isinstance(at, int) and at > 1 else None,
        )

    async def _stop(self) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        self._process = None

    async def close(self) -> None:
        async with self._lock:
            if self._process is not None and self._process.stdin is not None:
                self._process.stdin.close()
            await self._stop()
